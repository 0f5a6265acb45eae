## The daily check-in and streaks

menu-checkin = ✅ حضور امروز
words-checkin = حضور, ثبت حضور, زنجیره
checkin-done = ✅ حضور امروز شما ثبت شد! زنجیرهٔ حضور: { $days } پشت سر هم.
checkin-done-plain = ✅ حضور امروز شما ثبت شد!
checkin-again = امروز حضورتان را ثبت کرده‌اید. فردا دوباره سر بزنید!
streaks-title = 🔥 زنجیره‌های شما:
streak-line = { $name }: { $current } پشت سر هم (بهترین: { $best })
streak-name-checkin-day = حضور روزانه
streak-name-checkin-week = حضور هفتگی
streak-name-purchase-day = خرید روزانه
streak-name-purchase-week = خرید هفتگی
streak-days = { $count } روز
streak-weeks = { $count } هفته
streaks-freeze = ❄️ یک روز یا هفته را از دست دادید؟ از هر { $every } بار، یک غیبت بخشیده می‌شود.
notice-streak-checkin-day = 🔥 زنجیرهٔ حضور { $streak }ه شما نیمه‌شب تمام می‌شود. امروز حضورتان را ثبت کنید!
notice-streak-checkin-week = 🔥 زنجیرهٔ حضور { $streak }ه شما امشب تمام می‌شود. حضورتان را ثبت کنید!
notice-streak-purchase-day = 🔥 زنجیرهٔ خرید { $streak }ه شما نیمه‌شب تمام می‌شود. امروز به ما سر بزنید!
notice-streak-purchase-week = 🔥 زنجیرهٔ خرید { $streak }ه شما امشب با پایان هفته تمام می‌شود. به ما سر بزنید!
