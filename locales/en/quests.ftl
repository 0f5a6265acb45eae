## Games hub and quests

menu-games = 🎮 Games
words-games = games, play, game
games-title = 🎮 Games: pick one.
games-quests = 🎯 Quests
words-quests = quests, quest, tasks

quests-none = No quests are running right now. Look in again soon!
quests-title = { $count ->
    [one] 🎯 One quest you can do:
   *[other] 🎯 { $count } quests you can do:
}
quests-state-done = done ✅
quests-state-progress = { $done } of { $count ->
    [one] { $count } step
   *[other] { $count } steps
} done
quests-state-new = not joined yet
quest-joined = You have joined the quest. Good luck!
quest-join = 🚀 Join
quest-join-hint = Press “Join” to take part: only what you do after joining counts.
quest-ordered-hint = Do the steps in order: each one counts once the ones before it are done.
quest-completed = 🏆 You have completed this quest.
quest-all = ⬅️ All quests
quest-steps-title = Steps:
quest-recurrence-once = One time
quest-recurrence-daily = Every day (starts again each day)
quest-recurrence-weekly = Every week (starts again each Monday)
quest-until = until { $date }
quest-reward = Reward: { $reward }
quest-reward-coupon = a coupon
quest-reward-badge = the badge “{ $badge }”

quest-answer = ✏️ Answer
quest-proof = 📝 Send proof
quest-check = 🔄 Check my subscription
quest-cancel = ✖️ Cancel
quest-cancelled = Cancelled. You can come back to the quest any time.
quest-type-answer = Type your answer in a message.
quest-send-proof = Send it as a message (a photo is welcome too): our staff will check it.
quest-proof-received = 📨 Thank you! Our staff will check it, and we will tell you the outcome.
quest-proof-waiting = being checked
quest-answer-right = ✅ Right!
quest-answer-wrong = ❌ Not quite. Try again!
quest-answer-wrong-typed = ❌ Not quite. Type another answer, or press Cancel.
quest-channel-ok = ✅ Subscription confirmed!
quest-channel-not-member = We cannot see you in the channel yet. Subscribe ({ $link }) and press “Check” again.
quest-channel-unknown = We could not check your subscription just now. Please try again in a few minutes.

quest-refused-not_available = This quest is no longer available.
quest-refused-not_joined = Join the quest first.
quest-refused-step_unknown = This step is not part of the quest any more.
quest-refused-step_locked = Finish the steps before this one first.
quest-refused-step_done = This step is already done.
quest-refused-proof_pending = Your proof for this step is being checked: we will tell you the outcome.
quest-refused-no_telegram = The channel is on Telegram: link your Telegram account (🔗 My messengers) so we can check it.
quest-refused-check_unavailable = Subscriptions cannot be checked right now. Please try again later.

quest-step-spend = Spend { $amount }
quest-step-purchases = { $count ->
    [one] Make a purchase
   *[other] Make { $count } purchases
}
quest-step-in-category = in “{ $category }”
quest-step-at-store = at { $store }
quest-step-friends = { $count ->
    [one] Invite a friend who joins
   *[other] Invite { $count } friends who join
}
quest-step-checkins = { $count ->
    [one] Check in once
   *[other] Check in on { $count } days
}
quest-step-quiz = Answer: { $question }
quest-step-event = { $count ->
    [one] { $event }
   *[other] { $event } ({ $count } times)
}
quest-step-channel = Subscribe to our channel { $channel }
quest-step-profile = Complete your profile: { $fields }
quest-field-phone = phone
quest-field-birthday = birthday
quest-field-marketing = consent to offers
list-and = { $first } and { $last }

quest-progress-spend = { $done } of { $target }
quest-progress-purchases = { $done } of { $count ->
    [one] { $count } purchase
   *[other] { $count } purchases
}
quest-progress-friends = { $done } of { $count ->
    [one] { $count } friend
   *[other] { $count } friends
}
quest-progress-checkins = { $done } of { $count ->
    [one] { $count } check-in
   *[other] { $count } check-ins
}
quest-progress-times = { $done } of { $count }

notice-quest-step-done = ✅ A step of “{ $quest }” is done: { $done } of { $count ->
    [one] { $count } step
   *[other] { $count } steps
}.
notice-quest-completed = 🏆 Quest “{ $quest }” completed!
notice-profile-completed = 🏆 Your profile is complete: thank you!
notice-quest-points = You got { $points }. Your balance: { $balance }.
notice-quest-badge = New badge: { $badge }.
notice-quest-coupon = Your coupon comes in the next message.
notice-quest-proof-approved = ✅ Your proof for “{ $quest }” was approved.
notice-quest-proof-rejected = ❌ Your proof for “{ $quest }” was not accepted: { $reason }. You can send another one.
notice-quest-proof-rejected-plain = ❌ Your proof for “{ $quest }” was not accepted. You can send another one.

reason-quest = Quest reward: { $reference }
