## Sign-up: /start, accept the terms, choose about offers (handlers/flows/signup.py)
signup-welcome =
    به { $program } خوش آمدید! این‌گونه کار می‌کند:
    { $rules }

    برای صدور کارت، لطفاً شرایط برنامه را بپذیرید.
signup-language = اکنون به زبان { $language } صحبت می‌کنیم. برای تغییر، زبان دیگری را از پایین انتخاب کنید.
signup-terms-accept = ✅ شرایط را می‌پذیرم
signup-terms-decline = ❌ نمی‌پذیرم
signup-terms-declined = بدون پذیرفتن شرایط نمی‌توانیم برای شما کارت صادر کنیم. هر زمان آماده بودید، «شرایط را می‌پذیرم» را انتخاب کنید.
signup-marketing = یک پرسش دیگر پیش از صدور کارت: مایلید پیشنهادهای ویژه و اخبار را برایتان بفرستیم؟ امتیازهای شما به این بستگی ندارد و هر زمان بخواهید می‌توانید آن را تغییر دهید.
signup-marketing-yes = 🔔 بله، لطفاً
signup-marketing-no = نه، ممنون
signup-phone-card = برای شمارهٔ تلفن شما از قبل کارتی داریم: { $card }. اگر کارت شماست، به‌جای باز کردن کارت تازه از همان استفاده کنید.
signup-phone-card-link = 🔗 کارت من است
signup-skip = رد شدن
signup-repeat = لطفاً یکی از گزینه‌های زیر را انتخاب کنید.
signup-done = کارت شما آماده است! { $bonus ->
    [0] به { $program } خوش آمدید.
   *[other] { $points } به‌عنوان هدیهٔ خوش‌آمدگویی به شما تعلق گرفت.
}
    شمارهٔ کارت شما: { $card }. آن را (یا کد QR در «💳 کارت من») هنگام پرداخت نشان دهید.
signup-referred = شما با دعوت یک دوست به ما پیوستید.
signup-profile = هر زمان بخواهید می‌توانید شماره تلفن و تاریخ تولد خود را در «👤 نمایه» اضافه کنید.
signup-profile-birthday-gift = تاریخ تولد خود را در «👤 نمایه» وارد کنید تا در روز تولدتان { $points } هدیه بگیرید.
signup-profile-quest = { $fields } خود را در «👤 نمایه» وارد کنید و { $reward } بگیرید.
