## The daily check-in and streaks

menu-checkin = ✅ Отметиться
words-checkin = отметиться, отметка, серия, серии
checkin-done = ✅ Вы отметились сегодня! Серия отметок: { $days } подряд.
checkin-done-plain = ✅ Вы отметились сегодня!
checkin-again = Сегодня вы уже отмечались. Приходите завтра!
streaks-title = 🔥 Ваши серии:
streak-line = { $name }: { $current } подряд (рекорд: { $best })
streak-name-checkin-day = Ежедневные отметки
streak-name-checkin-week = Еженедельные отметки
streak-name-purchase-day = Покупки каждый день
streak-name-purchase-week = Покупки каждую неделю
streak-days = { $count ->
    [one] { $count } день
    [few] { $count } дня
   *[many] { $count } дней
}
streak-weeks = { $count ->
    [one] { $count } неделя
    [few] { $count } недели
   *[many] { $count } недель
}
streaks-freeze = ❄️ Пропустили? Один пропуск на каждые { $every } дней или недель прощается.
notice-streak-checkin-day = 🔥 Ваша серия отметок ({ $streak }) прервётся в полночь. Отметьтесь сегодня, чтобы её сохранить!
notice-streak-checkin-week = 🔥 Ваша серия отметок ({ $streak }) прервётся сегодня ночью. Отметьтесь, чтобы её сохранить!
notice-streak-purchase-day = 🔥 Ваша серия покупок ({ $streak }) прервётся в полночь. Загляните к нам сегодня!
notice-streak-purchase-week = 🔥 Ваша серия покупок ({ $streak }) прервётся сегодня ночью вместе с неделей. Загляните к нам!
