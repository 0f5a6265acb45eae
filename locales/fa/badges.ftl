## Badges: the shelf in the chat and the notice of a new one

menu-badges = 🏅 نشان‌ها
words-badges = نشان, نشان‌ها, دستاوردها
badges-none = هنوز نشانی برای کسب کردن نیست. به‌زودی سر بزنید!
badges-title = 🏅 نشان‌های شما: { $earned } از { $total }
badges-earned = ✓ { $emoji } { $title }: { $description } ({ $date })
badges-locked = { $lock } { $emoji } { $title }: { $progress }
badge-progress-first-purchase = اولین خرید خود را انجام دهید
badge-progress-visits = { $have } از { $need } بار خرید
badge-progress-friends = { $have } از { $need } دوست
badge-progress-quest = { $have } از { $need } مأموریت
badge-progress-quest-one = مأموریت آن را تمام کنید
badge-progress-streak-day = بهترین زنجیره { $have } از { $need } روز
badge-progress-streak-week = بهترین زنجیره { $have } از { $need } هفته
badge-progress-tier = به سطح { $tier } برسید
badge-progress-award = یک جایزهٔ ویژه
notice-badge-earned = 🏅 نشان جدید: { $emoji } { $title }! { $description }
badges-more = …و { $count } نشان دیگر
