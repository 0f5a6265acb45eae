## بازی‌ها و مأموریت‌ها

menu-games = 🎮 بازی‌ها
words-games = بازی‌ها, بازی
games-title = 🎮 بازی‌ها: یکی را انتخاب کنید.
games-quests = 🎯 مأموریت‌ها
words-quests = مأموریت‌ها, مأموریت, چالش

quests-none = فعلاً مأموریتی در جریان نیست. به‌زودی دوباره سر بزنید!
quests-title = { $count ->
    [one] 🎯 { $count } مأموریت برای شما:
   *[other] 🎯 { $count } مأموریت برای شما:
}
quests-state-done = انجام شد ✅
quests-state-progress = { $done } از { $count ->
    [one] { $count } مرحله
   *[other] { $count } مرحله
} انجام شده
quests-state-new = هنوز شرکت نکرده‌اید
quest-joined = به مأموریت پیوستید. موفق باشید!
quest-join = 🚀 شرکت می‌کنم
quest-join-hint = برای شرکت «شرکت می‌کنم» را بزنید: فقط کارهایی که بعد از آن انجام دهید حساب می‌شود.
quest-ordered-hint = مراحل را به ترتیب انجام دهید: هر مرحله وقتی حساب می‌شود که مراحل قبلی انجام شده باشند.
quest-completed = 🏆 این مأموریت را به پایان رساندید.
quest-all = ⬅️ همه مأموریت‌ها
quest-steps-title = مراحل:
quest-recurrence-once = یک‌بار
quest-recurrence-daily = هر روز (هر روز از نو)
quest-recurrence-weekly = هر هفته (هر دوشنبه از نو)
quest-until = تا { $date }
quest-reward = جایزه: { $reward }
quest-reward-coupon = یک کوپن
quest-reward-badge = نشان «{ $badge }»

quest-answer = ✏️ پاسخ
quest-proof = 📝 ارسال مدرک
quest-check = 🔄 بررسی عضویت من
quest-cancel = ✖️ لغو
quest-cancelled = لغو شد. هر وقت خواستید به مأموریت برگردید.
quest-type-answer = پاسخ خود را در یک پیام بنویسید.
quest-send-proof = آن را در یک پیام بفرستید (عکس هم می‌شود): همکاران ما بررسی می‌کنند.
quest-proof-received = 📨 سپاس! همکاران ما بررسی می‌کنند و نتیجه را به شما می‌گوییم.
quest-proof-waiting = در حال بررسی
quest-answer-right = ✅ درست است!
quest-answer-wrong = ❌ نه کاملاً. دوباره امتحان کنید!
quest-answer-wrong-typed = ❌ نه کاملاً. پاسخ دیگری بنویسید یا «لغو» را بزنید.
quest-channel-ok = ✅ عضویت تأیید شد!
quest-channel-not-member = هنوز شما را در کانال نمی‌بینیم. عضو شوید ({ $link }) و دوباره «بررسی» را بزنید.
quest-channel-unknown = الان نتوانستیم عضویت را بررسی کنیم. چند دقیقه دیگر دوباره امتحان کنید.

quest-refused-not_available = این مأموریت دیگر در دسترس نیست.
quest-refused-not_joined = اول در مأموریت شرکت کنید.
quest-refused-step_unknown = این مرحله دیگر جزو مأموریت نیست.
quest-refused-step_locked = اول مراحل قبلی را انجام دهید.
quest-refused-step_done = این مرحله قبلاً انجام شده است.
quest-refused-proof_pending = مدرک شما برای این مرحله در حال بررسی است: نتیجه را به شما می‌گوییم.
quest-refused-no_telegram = کانال در تلگرام است: حساب تلگرام خود را وصل کنید (🔗 پیام‌رسان‌های من) تا بتوانیم بررسی کنیم.
quest-refused-check_unavailable = الان امکان بررسی عضویت نیست. بعداً دوباره امتحان کنید.

quest-step-spend = { $amount } خرید کنید
quest-step-purchases = { $count ->
    [one] { $count } خرید انجام دهید
   *[other] { $count } خرید انجام دهید
}
quest-step-in-category = در دستهٔ «{ $category }»
quest-step-at-store = در فروشگاه { $store }
quest-step-friends = { $count ->
    [one] { $count } دوست دعوت کنید که عضو شود
   *[other] { $count } دوست دعوت کنید که عضو شوند
}
quest-step-checkins = { $count ->
    [one] { $count } روز حضور بزنید
   *[other] { $count } روز حضور بزنید
}
quest-step-quiz = پاسخ دهید: { $question }
quest-step-event = { $count ->
    [one] { $event }
   *[other] { $event } ({ $count } بار)
}
quest-step-channel = در کانال ما { $channel } عضو شوید
quest-step-profile = نمایه خود را کامل کنید: { $fields }
quest-field-phone = تلفن
quest-field-birthday = تاریخ تولد
quest-field-marketing = رضایت به دریافت پیشنهادها
list-and = { $first } و { $last }

quest-progress-spend = { $done } از { $target }
quest-progress-purchases = { $done } از { $count ->
    [one] { $count } خرید
   *[other] { $count } خرید
}
quest-progress-friends = { $done } از { $count ->
    [one] { $count } دوست
   *[other] { $count } دوست
}
quest-progress-checkins = { $done } از { $count ->
    [one] { $count } حضور
   *[other] { $count } حضور
}
quest-progress-times = { $done } از { $count }

notice-quest-step-done = ✅ یک مرحله از «{ $quest }» انجام شد: { $done } از { $count ->
    [one] { $count } مرحله
   *[other] { $count } مرحله
}.
notice-quest-completed = 🏆 مأموریت «{ $quest }» به پایان رسید!
notice-profile-completed = 🏆 نمایه شما کامل شد: سپاس!
notice-quest-points = { $points } گرفتید. موجودی شما: { $balance }.
notice-quest-badge = نشان تازه: { $badge }.
notice-quest-coupon = کوپن شما در پیام بعدی می‌آید.
notice-quest-proof-approved = ✅ مدرک شما برای «{ $quest }» پذیرفته شد.
notice-quest-proof-rejected = ❌ مدرک شما برای «{ $quest }» پذیرفته نشد: { $reason }. می‌توانید مدرک دیگری بفرستید.
notice-quest-proof-rejected-plain = ❌ مدرک شما برای «{ $quest }» پذیرفته نشد. می‌توانید مدرک دیگری بفرستید.

reason-quest = جایزهٔ مأموریت: { $reference }
