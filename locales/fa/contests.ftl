## مسابقه‌ها: قرعه‌کشی‌هایی که همه می‌توانند درستی‌شان را بررسی کنند

menu-contests = 🎉 مسابقه‌ها
words-contests = مسابقه‌ها, مسابقه, قرعه‌کشی, قرعه کشی
contests-empty = الان مسابقه‌ای در جریان نیست. به‌زودی دوباره سر بزنید!
contests-title = مسابقه‌ها:
contests-line = • { $title }: { $state }
contest-gone = این مسابقه دیگر در دسترس نیست.
contest-page-title = 🏆 { $title }
contest-state-upcoming = از { $date } شروع می‌شود.
contest-state-open = تا { $date } می‌توانید شرکت کنید.
contest-state-closed = ثبت‌نام بسته شده است؛ قرعه‌کشی در { $date }.
contest-state-drawn = قرعه‌کشی انجام شده است.
contest-prize = جایزه: { $prize }
contest-prize-coupon = یک کوپن
contest-places-winners = { $count ->
    [one] { $count } برنده
   *[other] { $count } برنده
}
contest-places-reserves = { $count ->
    [0] بدون نفر ذخیره
    [one] { $count } نفر ذخیره اگر برنده‌ای کنار برود
   *[other] { $count } نفر ذخیره اگر برندگان کنار بروند
}
contest-tickets-join = • برای شرکت: { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
}
contest-tickets-purchase = • برای هر خرید: { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
}
contest-tickets-friend = • برای هر دوستی که شرایط را داشته باشد: { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
}
contest-tickets-quest = • برای هر مأموریت انجام‌شده: { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
}
contest-not-entered = هنوز در این مسابقه شرکت نکرده‌اید.
contest-your-entry = شما با نام مستعار { $pseudonym } و { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
} شرکت کرده‌اید.
contest-commitment = قرعه‌کشی منصفانه: فروشگاه از قبل sha256(seed) = { $commitment } و دور { $round } از drand { $chain } را اعلام کرده است که پیش از قرعه‌کشی هنوز وجود ندارد.
contest-frozen = فهرست شرکت‌کنندگان ثابت شد: { $count ->
    [one] { $count } شرکت‌کننده
   *[other] { $count } شرکت‌کننده
}، sha256 { $hash }.
contest-winners = برندگان: { $winners }
contest-verify-hint = همه می‌توانند قرعه‌کشی را بررسی کنند: /contests/{ $id }/draw.json در وب‌سایت فروشگاه.
contest-join-button = ✅ شرکت می‌کنم
contest-claim-button = 🎁 دریافت جایزه
contest-back = ⬅️ همه مسابقه‌ها
contest-joined = ثبت شد! نام مستعار شما در قرعه‌کشی { $pseudonym } است؛ { $count ->
    [one] { $count } بلیت
   *[other] { $count } بلیت
} دارید.
contest-join-closed = الان نمی‌توانید در این مسابقه شرکت کنید.
contest-join-not-needed = نیازی به ثبت‌نام نیست: بلیت‌ها با خرید و فعالیت شما می‌آیند.
contest-join-ineligible = متأسفیم، حساب شما نمی‌تواند در این مسابقه شرکت کند.
contest-claim-not-winner = در این مسابقه جایزه‌ای برای دریافت ندارید.
contest-claim-expired = متأسفیم، مهلت دریافت این جایزه گذشته است؛ جایزه به نفر بعدی رسید.
contest-claim-ineligible = متأسفیم، حساب شما دیگر نمی‌تواند این جایزه را بگیرد؛ جایزه به نفر بعدی رسید.
contest-claim-coupon-failed = الان نتوانستیم کوپن جایزه را صادر کنیم. لطفاً با فروشگاه تماس بگیرید.
reason-contest_prize = جایزهٔ مسابقه: { $reference }
contest-claimed = 🎉 جایزه مال شماست!
contest-claimed-points = { $points } به موجودی شما اضافه شد.
contest-claimed-coupon = کوپن شما: { $code } (در «کوپن‌های من» هم هست).
contest-claimed-item = { $item }: برای دریافت، این پیام را در فروشگاه نشان دهید.
notice-contest-won = 🎉 شما در «{ $title }» برنده شدید! تا { $deadline } جایزه‌تان را دریافت کنید.
notice-contest-reserve-won = 🎉 جایی خالی شد: شما به‌عنوان نفر ذخیره در «{ $title }» برنده شدید! تا { $deadline } جایزه‌تان را دریافت کنید.

## صفحهٔ عمومی مسابقه

web-contest-entries = فهرست ثابت‌شدهٔ شرکت‌کنندگان
web-contest-entries-open = فهرست شرکت‌کنندگان هنگام بسته شدن ثبت‌نام ثابت و منتشر می‌شود.
web-contest-pseudonym = نام مستعار
web-contest-tickets = بلیت‌ها
web-contest-results = نتیجهٔ قرعه‌کشی
web-contest-position = رتبه
web-contest-status = وضعیت
web-contest-transcript = گزارش کامل قرعه‌کشی (JSON)
web-contest-how-to-check = روش بررسی: گزارش را دریافت کنید و `python main.py verify-draw draw.json` را اجرا کنید (یا draw.py مستقل از کد منبع برنامه). این کار بررسی می‌کند که seed افشاشده با تعهد منتشرشده جور است، فهرست شرکت‌کنندگان با هش منتشرشده جور است، beacon همان دور drand تعهدشده است (با امضای League of Entropy)، و برندگان را دوباره محاسبه می‌کند.

## مسابقه‌های جدول امتیازات: برترین‌های دورهٔ مسابقه برنده می‌شوند

contest-metric-points = امتیاز خریدها
contest-metric-friends = دوستان دعوت‌شده
contest-metric-quests = مأموریت‌های انجام‌شده
contest-ranked-by = برترین‌های جدول برنده می‌شوند: رتبه‌بندی بر اساس { $metric } از آغاز تا پایان مسابقه؛ در تساوی، کسی جلوتر است که زودتر به آن رسیده است.
contest-everyone-ranked = همه شرکت دارند: نیازی به پیوستن نیست.
contest-leaderboard-how = با یک لمس بپیوندید: هرچه از آن پس به دست آورید حساب می‌شود.
contest-leaderboard-joined = شما شرکت کردید! هرچه از این پس به دست آورید حساب می‌شود؛ در جدول نهایی با نام { $pseudonym } دیده می‌شوید.
contest-standings-empty = هنوز کسی در جدول نیست: اولین نفر باشید!
contest-standings-frozen = جدول نهایی ثابت شد: { $count ->
    [one] { $count } عضو
   *[other] { $count } عضو
}، sha256 { $hash }.
contest-your-pseudonym = در جدول نهایی شما { $pseudonym } هستید.
contest-state-counting = مسابقه تمام شد؛ جدول نهایی در حال محاسبه است.
contest-state-final = مسابقه تمام شد؛ جدول نهایی است.
web-contest-standings = جدول
web-contest-name = نام
web-contest-score = امتیاز
web-contest-reached-at = زمان رسیدن (UTC)
web-contest-how-to-check-top = روش بررسی: گزارش را دریافت کنید و `python main.py verify-draw draw.json` را اجرا کنید (یا draw.py مستقل از کد منبع برنامه). این بررسی می‌کند که هش جدول نهایی با هش منتشرشده یکی باشد و برندگان و ذخیره‌ها بالای همین جدول باشند (امتیاز، سپس کسی که زودتر رسیده)، به جز موارد کنارگذاشته‌شدهٔ فهرست‌شده. قرعه‌کشی در کار نیست، پس نه seed هست و نه beacon.
