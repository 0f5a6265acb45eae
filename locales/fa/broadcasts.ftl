## پیام‌های گروهی: برچسب دکمه‌ها وقتی بازاریاب برچسبی نداده است

broadcast-button-coupon = 🎟 کوپن من
broadcast-button-coupons = 🎟 کوپن‌های من
broadcast-button-rewards = 🛍 جوایز
broadcast-button-reward = 🛍 دریافت جایزه
broadcast-button-quests = 🎯 مأموریت‌ها
broadcast-button-quest = 🎯 باز کردن مأموریت

## What {name} says in a broadcast to a member without a name
broadcast-nameless = دوست عزیز

## What {tier} says in a broadcast to a member in no tier
broadcast-no-tier = هنوز بدون سطح
