## Language names, shown in the language picker in their own script.
language-name = English

## Amounts
points-amount = { $count ->
    [one] { $count } point
   *[other] { $count } points
}

## Main menu
menu-balance = 💰 Balance
menu-history = 📜 History
menu-card = 💳 My card
menu-language = 🌐 Language
menu-help = ❓ Help
menu-marketing-off = 🔕 Stop offers
menu-marketing-on = 🔔 Get offers
menu-prompt = Choose what you need from the menu.
menu-welcome-back = Welcome back to { $program }! You have { $points }.
menu-unknown = Sorry, I did not understand that. Choose from the menu, or send /help.
button-invalid = This button is no longer valid. Choose from the menu.

## Words a member may type instead of pressing a button.
words-balance = balance, points, bonus
words-history = history, operations
words-card = card, my card, qr
words-language = language
words-help = help, rules, info
words-skip = skip, no
# Sent alone, these switch marketing messages off and on at once (WhatsApp convention).
words-stop = stop, unsubscribe
words-resume = start, subscribe

## Balance, history, card
balance = You have { $points }.
balance-worth = That is worth { $worth } at the till.
balance-debt = A refund left { $points } to settle: your next earnings go there first.
history-title = Your history, page { $page } of { $pages }:
history-empty = No operations yet. Points you earn and spend will show up here.
history-line = { $date }  { $sign }{ $amount }  { $reason }
history-newer = ◀ Newer
history-older = Older ▶
reason-welcome = Welcome bonus
reason-purchase = Purchase { $reference }
reason-redemption = Paid with points
reason-refund = Refund of purchase { $reference }
reason-debt_settlement = Refund debt settled
reason-other = Adjustment
reason-adjustment = Balance correction
card-caption = Your card: { $code }. Show this QR code at the till to earn and spend points.

## Language
language-choose = Choose your language:
language-changed = Done, we will talk in English now.

## Marketing consent
marketing-on = You will receive our personal offers and news. Tap "Stop offers" to unsubscribe at any time.
marketing-off = Done, no more offers. Your points and card are not affected.

## Help
help =
    { $program }: how it works
    { $rules }

    Buttons: Balance, History, My card, Profile (phone, birthday, language, time zone). Commands: /balance, /history, /card, /profile, /language, /help.
rules-earn = • You earn { $points } for every { $spend } spent.
rules-value = • { $points } = { $worth } when you pay with points.
rules-welcome = • A welcome gift of { $bonus } when you join.
rules-share = • Points can pay for up to { $share } of an order.
rules-no-earn = • Points are currently awarded only in special promotions.
rules-expiry = • Points expire { $days ->
    [one] a day
   *[other] { $days } days
} after you earn them.
rules-referral = • Invite friends: when a friend { $qualifies }, you get { $referrer } and they get { $friend }.
rules-birthday = • A birthday gift of { $bonus }.
rules-birthday-coupon = • A birthday gift of { $bonus } and a coupon.
rules-birthday-coupon-only = • A coupon as a birthday gift.
rules-tier-birthday = , birthday gift { $bonus }
rules-event-review = • { $points } for a review.
rules-event-survey = • { $points } for answering a survey.

## Problems
flood-slow-down = You are sending messages very fast. Please wait a few seconds, then I will answer again.
error-generic = Something went wrong on our side. Please try again in a minute; your points are safe.

## The console channel (a terminal, for trying the program locally)
console-intro = Loyalty bot in your terminal. Type a message, or the number of a choice. /quit to leave.
console-type-phone = Type your phone number, for example +79991234567.
console-unavailable = The service is unavailable for a moment. Please send that again in a little while.
console-image-saved = Saved to { $path }

## Telegram's command menu (descriptions, at most 256 characters)
command-start = Start or open the main menu
command-balance = My points
command-history = My history
command-card = My member card
command-language = Change the language
command-help = How the program works

## Linking another messenger to the same card
menu-link = 🔗 My messengers
words-link = link, connect, messengers
link-code =
    Your linking code: { $code }
    Within { $minutes } minutes, send it to our bot in your other messenger (Telegram, VK or WhatsApp). It works once.
link-done = Done! This messenger is now linked to your card { $card }. You have { $points }.
link-merged = Done! Your two accounts are now one card, { $card }: { $moved } moved over. You have { $points }.
link-already = This messenger is already linked to your card.
link-invalid = That linking code is not valid. Please check it and try again.
link-expired = That linking code has expired. Ask for a new one in your other messenger.
link-used = That linking code was already used. Ask for a new one in your other messenger.
link-too-many = Too many wrong codes. Please wait 15 minutes and try again.
reason-merge_in = Moved from your other account { $reference }
reason-merge_out = Moved to your card { $reference }

messengers-title = Messengers linked to your card { $card }:
messengers-line = • { $channel } …{ $tail }
messengers-hint = To use the same card in another messenger, get a linking code and send it to our bot there.
messengers-get-code = ➕ Get a linking code
messengers-unlink = ✖ Unlink { $channel } …{ $tail }
messengers-unlinked = { $channel } …{ $tail } is no longer linked to your card.
messengers-last = This is the only messenger linked to your card, so it cannot be unlinked.
messengers-not-found = That messenger is not linked to your card any more.
channel-telegram = Telegram
channel-vk = VK
channel-whatsapp = WhatsApp
channel-console = Console

## Privacy: the member's own data
menu-privacy = 🔒 My data
words-privacy = privacy, my data, delete
privacy-info = What we store: your name, language, phone and birthday if you gave them, your consents, your messengers and your points history. You can get all of it as a file, or have your account deleted.
privacy-export-button = 📄 Send me my data
privacy-erase-button = 🗑 Delete my account
privacy-export = Here is everything we store about you.
privacy-erase-confirm = Delete your account? Your name, phone, birthday and messengers will be erased on every channel, and your card with { $points } will stop working. This cannot be undone.
privacy-erase-yes = 🗑 Yes, delete everything
privacy-erase-no = No, keep my card
privacy-erased = Your account is deleted and your personal data erased. Thank you for having been with us; you can join again any time with /start.

## Inviting friends
menu-invite = 🎁 Invite friends
words-invite = invite, friends, referral
invite-intro = Invite friends to { $program }: when a friend { $qualifies }, you get { $referrer_bonus } and your friend gets { $friend_bonus }.
invite-qualifies-join = joins
invite-qualifies-first_purchase = makes a first purchase
invite-links = Your personal links:
invite-link-line = • { $channel }: { $link }
invite-code = Or your friend can send this code to our bot: { $code }
invite-progress = So far: { $joined ->
    [one] 1 friend joined
   *[other] { $joined } friends joined
}, { $rewarded } qualified, you earned { $points }.

## Notices
notice-points-earned = ✨ You earned { $points }. Your balance: { $balance }.
notice-points-spent = You spent { $points }. Your balance: { $balance }.
notice-points-added = ✏️ The shop corrected your balance: { $points } added. Your balance: { $balance }.
notice-points-taken = ✏️ The shop corrected your balance: { $points } taken off. Your balance: { $balance }.
notice-coupon-voided = Your coupon { $code } ({ $campaign }) was cancelled by the shop and can no longer be used.
notice-coupon-received = 🎟 A coupon for you: { $benefit }. Your code: { $code }
notice-coupon-campaign = Offer: { $campaign }
notice-coupon-valid-until = Valid until { $date }.
notice-coupon-show = Show this QR code or tell the code at the till.
notice-coupon-percent = { $percent } off
notice-coupon-fixed = { $amount } off
notice-coupon-item = a free { $item }
notice-coupon-generic = a gift
notice-tier-upgraded = 🏆 Congratulations! You have reached the { $tier } level.
notice-tier-downgraded = Your level is now { $tier }. Keep shopping with us to climb back up.
notice-tier-base = base
notice-points-expiring = ⏳ { $points } will expire on { $date }. Spend them before then!
notice-coupon-expiring = ⏳ Your coupon { $code } ({ $benefit }) expires on { $date }. Use it before then!
notice-points-expired = ⌛ { $points } expired. Your balance: { $balance }.
notice-birthday = 🎂 Happy birthday! Thank you for being with us.
notice-birthday-bonus = 🎂 Happy birthday! Here is our gift to you: { $points }.
notice-birthday-coupon = Your birthday coupon: { $code }

## Tiers and earning
tier-current = Your level: { $tier }
tier-perks = Your perks: { $perks }
tier-next-spend = Spend { $amount } more to reach { $tier }.
tier-next-points = Earn { $amount } more with purchases to reach { $tier }.
tier-keep-spend = To keep { $tier }, spend { $amount } more by { $date }.
tier-keep-points = To keep { $tier }, earn { $amount } more with purchases by { $date }.
tier-top = This is our highest level.
rules-tiers-spend = Levels, by what you spend over { $days ->
    [one] the last day
   *[other] the last { $days } days
}:
rules-tiers-points = Levels, by the points your purchases earn over { $days ->
    [one] the last day
   *[other] the last { $days } days
}:
rules-tier-line = • { $tier }: from { $threshold }, points × { $multiplier }
rules-promotion = • { $promotion }: points × { $multiplier }
rules-promotion-until = • { $promotion }: points × { $multiplier } until { $date }
reason-event = Bonus: { $reference }

## Coupons and rewards
menu-coupons = 🎟 My coupons
words-coupons = coupons, my coupons, coupon
menu-rewards = 🛍 Rewards
words-rewards = rewards, catalogue, catalog, shop
coupons-empty = You have no active coupons right now. Get one for your points in 🛍 Rewards.
coupons-title = { $count ->
    [one] You have 1 active coupon:
   *[other] You have { $count } active coupons, the soonest to expire first:
}
coupon-title = 🎟 { $campaign }
coupon-code = Code: { $code }
coupon-gives-percent = { $percent } off your order
coupon-gives-fixed = { $amount } off your order
coupon-gives-free-item = Free: { $item }
coupon-min-order = For orders from { $amount }
coupon-valid-until = Valid until { $date }
coupon-no-expiry = No expiry date
coupon-uses-left = { $count ->
    [one] Can be used once.
   *[other] Can be used { $count } times.
}
coupon-terms = Terms: { $terms }
coupon-show = Show this QR code or tell the code at the till.
rewards-empty = There are no rewards to claim right now. Please come back soon!
rewards-title = 🛍 Rewards for your points. You have { $points }.
rewards-line = • { $name }: { $cost } ({ $stock })
rewards-button = { $name } · { $cost }
rewards-previous = ◀ Previous
rewards-next = More ▶
reward-stock = { $count ->
    [one] only 1 left
   *[other] { $count } left
}
reward-stock-unlimited = available
reward-out-of-stock = out of stock
reward-title = 🛍 { $name }
reward-cost = Price: { $cost }. You have { $points }.
reward-limit = { $count ->
    [one] At most once per member.
   *[other] At most { $count } times per member.
}
reward-claim-button = ✅ Get it for { $cost }
reward-back = ◀ All rewards
reward-confirm = Get { $name } for { $cost }? You will have { $points } left.
reward-confirm-yes = ✅ Yes, get it
reward-confirm-no = No
reward-claimed = Done! { $name } is yours for { $cost }. You have { $points } left. Your coupon:
reward-not-enough = You need { $missing } more to get { $name }. Your purchases bring you points!
reward-sold-out = Sorry, { $name } has just run out.
reward-limit-reached = You have already got { $name } as many times as one member can.
reward-gone = This reward is no longer available.
reason-reward = Reward: { $reference }

## Tiers and earning
rules-tier-line-plain = • { $tier }: from { $threshold }

## Expiry and other history lines
reason-expiry = Points expired
reason-birthday = Birthday bonus
reason-referral_friend = Bonus for joining through a friend
reason-referral_referrer = Bonus for an invited friend
balance-expiring = Next to expire: { $points } on { $date }.

## Time zone
menu-timezone = 🕒 Time zone
words-timezone = time zone
time-zone-choose = Which time zone are you in? We greet you on your birthday on your own day. Now: { $zone }.
time-zone-changed = Done: your time zone is { $zone }.

## Returned orders: points and coupons given back
reason-redemption_cancel = Points returned: order cancelled
notice-points-returned = ↩️ { $points } came back to you: an order you paid with points was cancelled. Your balance: { $balance }.
notice-points-returned-expired = Of these, { $expired } had passed their expiry date and expired at once.
notice-coupon-restored = 🎟 Your order with coupon { $code } was cancelled, so you can use the coupon again.
notice-coupon-not-restored = Your order with coupon { $code } was cancelled. The coupon is no longer valid, so it cannot be used again.
