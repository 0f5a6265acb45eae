## Language names, shown in the language picker in their own script.
language-name = فارسی

## Amounts
# Persian nouns do not change after numerals; the selector is kept so the structure matches en.
points-amount = { $count ->
    [one] { $count } امتیاز
   *[other] { $count } امتیاز
}

## Main menu
menu-balance = 💰 موجودی
menu-history = 📜 تاریخچه
menu-card = 💳 کارت من
menu-language = 🌐 زبان
menu-help = ❓ راهنما
menu-marketing-off = 🔕 توقف پیشنهادها
menu-marketing-on = 🔔 دریافت پیشنهادها
menu-prompt = گزینهٔ مورد نظر خود را از منو انتخاب کنید.
menu-welcome-back = دوباره به { $program } خوش آمدید! شما { $points } دارید.
menu-unknown = ببخشید، متوجه نشدم. گزینه‌ای از منو انتخاب کنید یا /help را بفرستید.
button-invalid = این دکمه دیگر معتبر نیست. گزینه‌ای از منو انتخاب کنید.

## Words a member may type instead of pressing a button.
# Comma-separated (ASCII commas, so the list splits the same way as in the other languages).
words-balance = موجودی, امتیاز, امتیازها, امتیازات, اعتبار
words-history = تاریخچه, سوابق, تراکنش‌ها, تراکنشها, عملیات
words-card = کارت, کارت من, qr, کیوآر
words-language = زبان
words-help = راهنما, کمک, قوانین, اطلاعات
words-skip = رد شدن, رد, نه, خیر
# Sent alone, these switch marketing messages off and on at once (WhatsApp convention).
words-stop = توقف, لغو, لغو اشتراک
words-resume = شروع, اشتراک

## Balance, history, card
balance = شما { $points } دارید.
balance-worth = ارزش آن هنگام پرداخت در صندوق { $worth } است.
balance-debt = پس از بازگشت خرید، { $points } باید تسویه شود: امتیازهای بعدی ابتدا صرف آن می‌شوند.
history-title = تاریخچهٔ شما، صفحهٔ { $page } از { $pages }:
history-empty = هنوز تراکنشی ثبت نشده است. امتیازهایی که کسب یا خرج می‌کنید اینجا نمایش داده می‌شوند.
history-line = { $date }  { $sign }{ $amount }  { $reason }
history-newer = ◀ جدیدتر
history-older = قدیمی‌تر ▶
reason-welcome = پاداش خوش‌آمدگویی
reason-purchase = خرید { $reference }
reason-redemption = پرداخت با امتیاز
reason-refund = بازگشت خرید { $reference }
reason-debt_settlement = تسویهٔ بدهی بازگشت خرید
reason-other = اصلاح موجودی
reason-adjustment = اصلاح موجودی توسط فروشگاه
card-caption = کارت شما: { $code }. این کد QR را هنگام پرداخت در صندوق نشان دهید تا امتیاز کسب کنید یا امتیازهایتان را خرج کنید.

## Language
language-choose = زبان خود را انتخاب کنید:
language-changed = انجام شد، از این پس به فارسی با هم صحبت می‌کنیم.

## Marketing consent
marketing-on = از این پس پیشنهادهای ویژه و اخبار ما را دریافت می‌کنید. هر زمان بخواهید، با زدن «توقف پیشنهادها» می‌توانید اشتراک را لغو کنید.
marketing-off = انجام شد، دیگر پیشنهادی برایتان ارسال نمی‌شود. امتیازها و کارت شما بدون تغییر باقی می‌مانند.

## Help
help =
    { $program }: چگونه کار می‌کند
    { $rules }

    دکمه‌ها: موجودی، تاریخچه، کارت من، نمایه (تلفن، تاریخ تولد، زبان، منطقهٔ زمانی). دستورها: /balance، /history، /card، /profile، /language، /help.
rules-earn = • به ازای هر { $spend } خرید، { $points } دریافت می‌کنید.
rules-value = • هنگام پرداخت با امتیاز، { $points } برابر با { $worth } است.
rules-welcome = • هدیهٔ خوش‌آمدگویی هنگام عضویت: { $bonus }.
rules-share = • با امتیاز می‌توان تا { $share } از مبلغ خرید را پرداخت کرد.
rules-no-earn = • در حال حاضر امتیاز فقط در طرح‌های تشویقی ویژه اعطا می‌شود.
rules-expiry = • امتیازها { $days } روز پس از دریافت منقضی می‌شوند.
rules-referral = • دوستانتان را دعوت کنید: وقتی دوستتان { $qualifies }، شما { $referrer } و دوستتان { $friend } می‌گیرید.
rules-birthday = • هدیهٔ تولد: { $bonus }.
rules-birthday-coupon = • هدیهٔ تولد: { $bonus } و یک کوپن.
rules-birthday-coupon-only = • هدیهٔ تولد: یک کوپن.
rules-tier-birthday = ، هدیهٔ تولد { $bonus }
rules-event-review = • { $points } برای ثبت نظر.
rules-event-survey = • { $points } برای پاسخ به نظرسنجی.

## Problems
flood-slow-down = پیام‌ها را خیلی سریع می‌فرستید. لطفاً چند ثانیه صبر کنید، سپس دوباره پاسخ می‌دهم.
error-generic = مشکلی از طرف ما پیش آمد. لطفاً یک دقیقهٔ دیگر دوباره امتحان کنید؛ امتیازهای شما محفوظ است.

## The console channel (a terminal, for trying the program locally)
console-intro = ربات باشگاه مشتریان در ترمینال شما. پیامی بنویسید یا شمارهٔ یک گزینه را وارد کنید. برای خروج /quit
console-type-phone = شمارهٔ تلفن خود را بنویسید، برای مثال +989121234567.
console-unavailable = سرویس برای لحظه‌ای در دسترس نیست. لطفاً کمی بعد دوباره بفرستید.
console-image-saved = در { $path } ذخیره شد

## Telegram's command menu (descriptions, at most 256 characters)
command-start = شروع یا باز کردن منوی اصلی
command-balance = امتیازهای من
command-history = تاریخچهٔ من
command-card = کارت عضویت من
command-language = تغییر زبان
command-help = برنامه چگونه کار می‌کند

## Linking another messenger to the same card
menu-link = 🔗 پیام‌رسان‌های من
words-link = اتصال, پیوند, پیام‌رسان‌ها
link-code =
    کد اتصال شما: { $code }
    ظرف { $minutes } دقیقه آن را در پیام‌رسان دیگرتان (تلگرام، VK یا واتس‌اپ) برای ربات ما بفرستید. این کد فقط یک بار کار می‌کند.
link-done = انجام شد! این پیام‌رسان به کارت { $card } شما متصل شد. موجودی شما { $points } است.
link-merged = انجام شد! دو حساب شما اکنون یک کارت هستند، { $card }: { $moved } منتقل شد. موجودی شما { $points } است.
link-already = این پیام‌رسان از قبل به کارت شما متصل است.
link-invalid = این کد اتصال معتبر نیست. لطفاً آن را بررسی کنید و دوباره امتحان کنید.
link-expired = مهلت این کد اتصال تمام شده است. در پیام‌رسان دیگرتان کد تازه‌ای بگیرید.
link-used = این کد اتصال قبلاً استفاده شده است. در پیام‌رسان دیگرتان کد تازه‌ای بگیرید.
link-too-many = تعداد کدهای نادرست زیاد است. لطفاً ۱۵ دقیقه صبر کنید و دوباره امتحان کنید.
reason-merge_in = انتقال از حساب دیگر شما { $reference }
reason-merge_out = انتقال به کارت { $reference }

messengers-title = پیام‌رسان‌های متصل به کارت { $card }:
messengers-line = • { $channel } …{ $tail }
messengers-hint = برای استفاده از همین کارت در پیام‌رسان دیگر، یک کد اتصال بگیرید و آن را در آنجا برای ربات ما بفرستید.
messengers-get-code = ➕ دریافت کد اتصال
messengers-unlink = ✖ قطع اتصال { $channel } …{ $tail }
messengers-unlinked = { $channel } …{ $tail } دیگر به کارت شما متصل نیست.
messengers-last = این تنها پیام‌رسان متصل به کارت شماست و نمی‌توان اتصال آن را قطع کرد.
messengers-not-found = این پیام‌رسان دیگر به کارت شما متصل نیست.
channel-telegram = تلگرام
channel-vk = VK
channel-whatsapp = واتس‌اپ
channel-console = کنسول

## Privacy: the member's own data
menu-privacy = 🔒 اطلاعات من
words-privacy = حریم خصوصی, اطلاعات من, حذف
privacy-info = آنچه نگه می‌داریم: نام، زبان، و در صورت ارائه، تلفن و تاریخ تولد شما، رضایت‌ها، پیام‌رسان‌ها و تاریخچهٔ امتیازهایتان. می‌توانید همهٔ این‌ها را به صورت فایل دریافت کنید یا حساب خود را حذف کنید.
privacy-export-button = 📄 ارسال اطلاعات من
privacy-erase-button = 🗑 حذف حساب من
privacy-export = این همهٔ اطلاعاتی است که از شما نگه می‌داریم.
privacy-erase-confirm = حساب شما حذف شود؟ نام، تلفن، تاریخ تولد و پیام‌رسان‌های شما در همهٔ کانال‌ها پاک می‌شوند و کارت شما با { $points } دیگر کار نمی‌کند. این کار برگشت‌پذیر نیست.
privacy-erase-yes = 🗑 بله، همه را حذف کن
privacy-erase-no = نه، کارتم بماند
privacy-erased = حساب شما حذف و اطلاعات شخصی‌تان پاک شد. از همراهی شما سپاسگزاریم؛ هر زمان خواستید می‌توانید با /start دوباره عضو شوید.

## Inviting friends
menu-invite = 🎁 دعوت از دوستان
words-invite = دعوت, دوستان, معرفی
invite-intro = دوستانتان را به { $program } دعوت کنید: وقتی دوستتان { $qualifies }، شما { $referrer_bonus } و دوستتان { $friend_bonus } می‌گیرید.
invite-qualifies-join = عضو شود
invite-qualifies-first_purchase = نخستین خریدش را انجام دهد
invite-links = لینک‌های شخصی شما:
invite-link-line = • { $channel }: { $link }
invite-code = یا دوستتان می‌تواند این کد را برای ربات ما بفرستد: { $code }
invite-progress = تا کنون: { $joined ->
    [one] { $joined } دوست عضو شده
   *[other] { $joined } دوست عضو شده‌اند
}، { $rewarded } نفر شرط را انجام داده‌اند، و شما { $points } گرفته‌اید.

## Notices
notice-points-earned = ✨ { $points } دریافت کردید. موجودی شما: { $balance }.
notice-points-spent = { $points } خرج کردید. موجودی شما: { $balance }.
notice-points-added = ✏️ فروشگاه موجودی شما را اصلاح کرد: { $points } افزوده شد. موجودی شما: { $balance }.
notice-points-taken = ✏️ فروشگاه موجودی شما را اصلاح کرد: { $points } کسر شد. موجودی شما: { $balance }.
notice-coupon-voided = کوپن { $code } ({ $campaign }) شما توسط فروشگاه لغو شد و دیگر قابل استفاده نیست.
notice-coupon-received = 🎟 یک کوپن برای شما: { $benefit }. کد شما: { $code }
notice-coupon-campaign = پیشنهاد: { $campaign }
notice-coupon-valid-until = معتبر تا { $date }.
notice-coupon-show = این کد QR را نشان دهید یا کد را در صندوق بگویید.
notice-coupon-percent = { $percent } تخفیف
notice-coupon-fixed = { $amount } تخفیف
notice-coupon-item = یک { $item } رایگان
notice-coupon-generic = یک هدیه
notice-tier-upgraded = 🏆 تبریک! شما به سطح { $tier } رسیدید.
notice-tier-downgraded = سطح شما اکنون { $tier } است. با خرید از ما دوباره ارتقا پیدا کنید.
notice-tier-base = پایه
notice-points-expiring = ⏳ { $points } در تاریخ { $date } منقضی می‌شود. پیش از آن خرجش کنید!
notice-coupon-expiring = ⏳ کوپن { $code } شما ({ $benefit }) در تاریخ { $date } منقضی می‌شود. پیش از آن از آن استفاده کنید!
notice-points-expired = ⌛ { $points } منقضی شد. موجودی شما: { $balance }.
notice-birthday = 🎂 تولدتان مبارک! از اینکه با ما هستید سپاسگزاریم.
notice-birthday-bonus = 🎂 تولدتان مبارک! هدیهٔ ما به شما: { $points }.
notice-birthday-coupon = کوپن تولد شما: { $code }

## Tiers and earning
tier-current = سطح شما: { $tier }
tier-perks = مزایای شما: { $perks }
tier-next-spend = برای رسیدن به سطح { $tier }، { $amount } دیگر خرید کنید.
tier-next-points = برای رسیدن به سطح { $tier }، { $amount } دیگر از خریدها بگیرید.
tier-keep-spend = برای حفظ سطح { $tier }، تا { $date } { $amount } دیگر خرید کنید.
tier-keep-points = برای حفظ سطح { $tier }، تا { $date } { $amount } دیگر از خریدها بگیرید.
tier-top = این بالاترین سطح ماست.
rules-tiers-spend = سطح‌ها، بر اساس مبلغ خرید شما در { $days } روز گذشته:
rules-tiers-points = سطح‌ها، بر اساس امتیاز خریدهای شما در { $days } روز گذشته:
rules-tier-line = • { $tier }: از { $threshold }، امتیاز × { $multiplier }
rules-promotion = • { $promotion }: امتیاز × { $multiplier }
rules-promotion-until = • { $promotion }: امتیاز × { $multiplier } تا { $date }
reason-event = پاداش: { $reference }

## Coupons and rewards
menu-coupons = 🎟 کوپن‌های من
words-coupons = کوپن, کوپن‌ها, کوپن های من
menu-rewards = 🛍 جوایز
words-rewards = جوایز, جایزه, کاتالوگ
coupons-empty = در حال حاضر کوپن فعالی ندارید. در «🛍 جوایز» با امتیازتان کوپن بگیرید.
coupons-title = { $count ->
    [one] { $count } کوپن فعال دارید:
   *[other] { $count } کوپن فعال دارید، زودتر منقضی‌شونده‌ها اول:
}
coupon-title = 🎟 { $campaign }
coupon-code = کد: { $code }
coupon-gives-percent = { $percent } تخفیف روی سفارش
coupon-gives-fixed = { $amount } تخفیف روی سفارش
coupon-gives-free-item = رایگان: { $item }
coupon-min-order = برای سفارش‌های از { $amount }
coupon-valid-until = معتبر تا { $date }
coupon-no-expiry = بدون تاریخ انقضا
coupon-uses-left = { $count ->
    [one] { $count } بار قابل استفاده است.
   *[other] { $count } بار قابل استفاده است.
}
coupon-terms = شرایط: { $terms }
coupon-show = این کد QR را نشان دهید یا کد را در صندوق بگویید.
rewards-empty = در حال حاضر جایزه‌ای موجود نیست. به‌زودی سر بزنید!
rewards-title = 🛍 جوایز در برابر امتیاز. شما { $points } دارید.
rewards-line = • { $name }: { $cost } ({ $stock })
rewards-button = { $name } · { $cost }
rewards-previous = ◀ قبلی
rewards-next = بیشتر ▶
reward-stock = { $count ->
    [one] فقط { $count } عدد مانده
   *[other] { $count } عدد مانده
}
reward-stock-unlimited = موجود
reward-out-of-stock = ناموجود
reward-title = 🛍 { $name }
reward-cost = قیمت: { $cost }. شما { $points } دارید.
reward-limit = { $count ->
    [one] حداکثر { $count } بار برای هر عضو.
   *[other] حداکثر { $count } بار برای هر عضو.
}
reward-claim-button = ✅ دریافت با { $cost }
reward-back = ◀ همهٔ جوایز
reward-confirm = { $name } را با { $cost } دریافت می‌کنید؟ { $points } برایتان می‌ماند.
reward-confirm-yes = ✅ بله، دریافت
reward-confirm-no = خیر
reward-claimed = انجام شد! { $name } با { $cost } مال شماست. { $points } برایتان مانده است. کوپن شما:
reward-not-enough = برای دریافت { $name } به { $missing } دیگر نیاز دارید. با هر خرید امتیاز می‌گیرید!
reward-sold-out = متأسفیم، { $name } همین حالا تمام شد.
reward-limit-reached = شما { $name } را به اندازهٔ سقف مجاز برای هر عضو دریافت کرده‌اید.
reward-gone = این جایزه دیگر موجود نیست.
reason-reward = جایزه: { $reference }

## Tiers and earning
rules-tier-line-plain = • { $tier }: از { $threshold }

## Expiry and other history lines
reason-expiry = امتیازها منقضی شد
reason-birthday = هدیهٔ تولد
reason-referral_friend = هدیهٔ عضویت با دعوت دوست
reason-referral_referrer = هدیهٔ دعوت از دوست
balance-expiring = نزدیک‌ترین انقضا: { $points } در { $date }.

## Time zone
menu-timezone = 🕒 منطقهٔ زمانی
words-timezone = منطقه زمانی
time-zone-choose = در کدام منطقهٔ زمانی هستید؟ تا تولدتان را درست در روز خودتان تبریک بگوییم. اکنون: { $zone }.
time-zone-changed = انجام شد: منطقهٔ زمانی شما { $zone } است.

## Returned orders: points and coupons given back
reason-redemption_cancel = بازگشت امتیاز: سفارش لغو شد
notice-points-returned = ↩️ { $points } به شما برگشت: سفارشی که با امتیاز پرداخت شده بود لغو شد. موجودی شما: { $balance }.
notice-points-returned-expired = از این مقدار، { $expired } از تاریخ انقضایش گذشته بود و بی‌درنگ منقضی شد.
notice-coupon-restored = 🎟 سفارش با کوپن { $code } لغو شد؛ می‌توانید دوباره از این کوپن استفاده کنید.
notice-coupon-not-restored = سفارش با کوپن { $code } لغو شد. این کوپن دیگر معتبر نیست، پس نمی‌توان دوباره از آن استفاده کرد.
