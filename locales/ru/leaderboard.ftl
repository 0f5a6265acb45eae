## Leaderboards and the member's name on them

menu-leaderboard = 🏆 Рейтинг
words-leaderboard = рейтинг, топ, лидеры
leaderboard-title-points-week = 🏆 Баллы за эту неделю
leaderboard-title-points-month = 🏆 Баллы за этот месяц
leaderboard-title-friends-week = 🏆 Приглашённые друзья за эту неделю
leaderboard-title-friends-month = 🏆 Приглашённые друзья за этот месяц
leaderboard-title-quests-week = 🏆 Выполненные задания за эту неделю
leaderboard-title-quests-month = 🏆 Выполненные задания за этот месяц
leaderboard-empty = В этом рейтинге пока никого нет: станьте первым!
leaderboard-line = { $rank } { $name }: { $score }
leaderboard-line-mine = { $rank } { $name }: { $score } ← вы
leaderboard-mine = Ваше место: { $rank } из { $total }, { $score }.
leaderboard-not-yet-points = Вас пока нет в этом рейтинге: покупка добавит вас в него.
leaderboard-not-yet-friends = Вас пока нет в этом рейтинге: пригласите друга.
leaderboard-not-yet-quests = Вас пока нет в этом рейтинге: выполните задание.
leaderboard-metric-points = Баллы
leaderboard-metric-friends = Друзья
leaderboard-metric-quests = Задания
leaderboard-period-week = Эта неделя
leaderboard-period-month = Этот месяц
leaderboard-count-friends = { $count ->
    [one] { $count } друг
    [few] { $count } друга
   *[many] { $count } друзей
}
leaderboard-count-quests = { $count ->
    [one] { $count } задание
    [few] { $count } задания
   *[many] { $count } заданий
}
leaderboard-name-button = ✏️ Моё имя
leaderboard-hidden-name = Участник №{ $number }
nickname-current = В рейтингах вы показаны как { $name }.
nickname-hidden = Ваше имя в рейтингах скрыто: вы показаны как { $name }.
nickname-how = Чтобы выбрать псевдоним, отправьте /nickname и имя, например /nickname Солнце (от 2 до 20 букв, цифр, пробелов, . - _ ').
nickname-hide-button = 🙈 Скрыть имя
nickname-now-hidden = Готово: ваше имя скрыто, вы показаны как { $name }.
nickname-saved = Готово: в рейтингах вы теперь { $name }.
nickname-refused-empty = В псевдониме должно быть хотя бы 2 символа.
nickname-refused-too_long = Псевдоним может быть не длиннее 20 символов.
nickname-refused-characters = В псевдониме могут быть только буквы, цифры, пробелы и . - _ '.
nickname-refused-link = Псевдоним не может быть ссылкой или @именем.
