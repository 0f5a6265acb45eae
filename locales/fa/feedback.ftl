## بازخورد پس از خرید: «چقدر ما را توصیه می‌کنید؟» ۰ تا ۱۰، سپس یک نظر اختیاری

feedback-question = چقدر احتمال دارد ما را به یک دوست پیشنهاد کنید؟ ۰ یعنی اصلاً، ۱۰ یعنی حتماً.
feedback-thanks = از پاسخ شما سپاسگزاریم!
feedback-reward = برای پاسخ شما { $points } اضافه شد. موجودی شما: { $balance }.
# Persian nouns do not change after numerals; the selector is kept so the structure matches en.
feedback-comment-prompt = چیزی برای افزودن دارید؟ تا { $minutes ->
    [one] { $minutes } دقیقه
   *[other] { $minutes } دقیقه
} دیگر در پیام بعدی خود بنویسید (اختیاری).
feedback-comment-thanks = سپاسگزاریم، نظر شما به فروشگاه رسید.
feedback-already-counted = شما قبلاً به این پرسش پاسخ داده‌اید: نخستین پاسخ شما شمرده شده است.
feedback-out-of-range = لطفاً با یک عدد صحیح از { $low } تا { $high } پاسخ دهید.
feedback-not-asked = اکنون پرسشی در انتظار پاسخ شما نیست.

## تاریخچه: پاداش پاسخ
reason-feedback = سپاس برای بازخورد شما
