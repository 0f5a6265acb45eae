## Игры и задания

menu-games = 🎮 Игры
words-games = игры, играть, игра
games-title = 🎮 Игры: выберите.
games-quests = 🎯 Задания
words-quests = задания, задание, квесты, квест

quests-none = Сейчас заданий нет. Загляните позже!
quests-title = { $count ->
    [one] 🎯 Вам доступно { $count } задание:
    [few] 🎯 Вам доступно { $count } задания:
   *[many] 🎯 Вам доступно { $count } заданий:
}
quests-state-done = выполнено ✅
quests-state-progress = сделано { $done } из { $count ->
    [one] { $count } шага
    [few] { $count } шагов
   *[many] { $count } шагов
}
quests-state-new = вы ещё не участвуете
quest-joined = Вы участвуете в задании. Удачи!
quest-join = 🚀 Участвовать
quest-join-hint = Нажмите «Участвовать»: засчитывается только то, что вы сделаете после этого.
quest-ordered-hint = Выполняйте шаги по порядку: шаг засчитывается, когда сделаны все предыдущие.
quest-completed = 🏆 Вы выполнили это задание.
quest-all = ⬅️ Все задания
quest-steps-title = Шаги:
quest-recurrence-once = Один раз
quest-recurrence-daily = Каждый день (начинается заново каждый день)
quest-recurrence-weekly = Каждую неделю (начинается заново в понедельник)
quest-until = до { $date }
quest-reward = Награда: { $reward }
quest-reward-coupon = купон
quest-reward-badge = значок «{ $badge }»

quest-answer = ✏️ Ответить
quest-proof = 📝 Отправить подтверждение
quest-check = 🔄 Проверить подписку
quest-cancel = ✖️ Отмена
quest-cancelled = Отменено. Вернуться к заданию можно в любой момент.
quest-type-answer = Напишите ответ сообщением.
quest-send-proof = Отправьте его сообщением (можно и фото) — наши сотрудники проверят.
quest-proof-received = 📨 Спасибо! Сотрудники проверят, и мы сообщим результат.
quest-proof-waiting = на проверке
quest-answer-right = ✅ Верно!
quest-answer-wrong = ❌ Не совсем. Попробуйте ещё раз!
quest-answer-wrong-typed = ❌ Не совсем. Напишите другой ответ или нажмите «Отмена».
quest-channel-ok = ✅ Подписка подтверждена!
quest-channel-not-member = Мы пока не видим вас в канале. Подпишитесь ({ $link }) и нажмите «Проверить» ещё раз.
quest-channel-unknown = Сейчас не удалось проверить подписку. Попробуйте через несколько минут.

quest-refused-not_available = Это задание больше недоступно.
quest-refused-not_joined = Сначала примите участие в задании.
quest-refused-step_unknown = Этого шага в задании больше нет.
quest-refused-step_locked = Сначала выполните предыдущие шаги.
quest-refused-step_done = Этот шаг уже выполнен.
quest-refused-proof_pending = Ваше подтверждение на проверке — мы сообщим результат.
quest-refused-no_telegram = Канал в Telegram: привяжите аккаунт Telegram (🔗 Мои мессенджеры), чтобы мы могли проверить подписку.
quest-refused-check_unavailable = Сейчас подписку проверить нельзя. Попробуйте позже.

quest-step-spend = Потратьте { $amount }
quest-step-purchases = { $count ->
    [one] Сделайте { $count } покупку
    [few] Сделайте { $count } покупки
   *[many] Сделайте { $count } покупок
}
quest-step-in-category = в категории «{ $category }»
quest-step-at-store = в магазине { $store }
quest-step-friends = { $count ->
    [one] Пригласите { $count } друга
    [few] Пригласите { $count } друзей
   *[many] Пригласите { $count } друзей
}
quest-step-checkins = { $count ->
    [one] Отметьтесь { $count } день
    [few] Отметьтесь { $count } дня
   *[many] Отметьтесь { $count } дней
}
quest-step-quiz = Ответьте: { $question }
quest-step-event = { $count ->
    [one] { $event }
    [few] { $event } ({ $count } раза)
   *[many] { $event } ({ $count } раз)
}
quest-step-channel = Подпишитесь на наш канал { $channel }
quest-step-profile = Заполните профиль: { $fields }
quest-field-phone = телефон
quest-field-birthday = день рождения
quest-field-marketing = согласие на предложения
list-and = { $first } и { $last }

quest-progress-spend = { $done } из { $target }
quest-progress-purchases = { $done } из { $count ->
    [one] { $count } покупки
    [few] { $count } покупок
   *[many] { $count } покупок
}
quest-progress-friends = { $done } из { $count ->
    [one] { $count } друга
    [few] { $count } друзей
   *[many] { $count } друзей
}
quest-progress-checkins = { $done } из { $count ->
    [one] { $count } отметки
    [few] { $count } отметок
   *[many] { $count } отметок
}
quest-progress-times = { $done } из { $count }

notice-quest-step-done = ✅ Шаг задания «{ $quest }» выполнен: сделано { $done } из { $count ->
    [one] { $count } шага
    [few] { $count } шагов
   *[many] { $count } шагов
}.
notice-quest-completed = 🏆 Задание «{ $quest }» выполнено!
notice-profile-completed = 🏆 Профиль заполнен — спасибо!
notice-quest-points = Вы получили { $points }. Ваш баланс: { $balance }.
notice-quest-badge = Новый значок: { $badge }.
notice-quest-coupon = Ваш купон — в следующем сообщении.
notice-quest-proof-approved = ✅ Ваше подтверждение для задания «{ $quest }» принято.
notice-quest-proof-rejected = ❌ Ваше подтверждение для задания «{ $quest }» не принято: { $reason }. Можно отправить другое.
notice-quest-proof-rejected-plain = ❌ Ваше подтверждение для задания «{ $quest }» не принято. Можно отправить другое.

reason-quest = Награда за задание: { $reference }
