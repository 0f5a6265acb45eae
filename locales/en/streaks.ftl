## The daily check-in and streaks

menu-checkin = ✅ Check in
words-checkin = check in, checkin, streak, streaks
checkin-done = ✅ Checked in for today! Your check-in streak: { $days } in a row.
checkin-done-plain = ✅ Checked in for today!
checkin-again = You have already checked in today. Come back tomorrow!
streaks-title = 🔥 Your streaks:
streak-line = { $name }: { $current } in a row (best: { $best })
streak-name-checkin-day = Daily check-ins
streak-name-checkin-week = Weekly check-ins
streak-name-purchase-day = Daily visits
streak-name-purchase-week = Weekly visits
streak-days = { $count ->
    [one] { $count } day
   *[other] { $count } days
}
streak-weeks = { $count ->
    [one] { $count } week
   *[other] { $count } weeks
}
streaks-freeze = ❄️ Missed one? One missed day or week in every { $every } is forgiven.
notice-streak-checkin-day = 🔥 Your check-in streak of { $streak } ends at midnight. Check in today to keep it!
notice-streak-checkin-week = 🔥 Your check-in streak of { $streak } ends tonight. Check in to keep it!
notice-streak-purchase-day = 🔥 Your streak of { $streak } with a visit ends at midnight. Drop by today to keep it!
notice-streak-purchase-week = 🔥 Your streak of { $streak } with a visit ends tonight, with the week. Drop by to keep it!
