## Badges: the shelf in the chat and the notice of a new one

menu-badges = 🏅 Значки
words-badges = значки, достижения
badges-none = Значков пока нет. Загляните позже!
badges-title = 🏅 Ваши значки: { $earned } из { $total }
badges-earned = ✓ { $emoji } { $title }: { $description } ({ $date })
badges-locked = { $lock } { $emoji } { $title }: { $progress }
badge-progress-first-purchase = сделайте первую покупку
badge-progress-visits = { $have } из { $need ->
    [one] { $need } визита
    [few] { $need } визитов
   *[many] { $need } визитов
}
badge-progress-friends = { $have } из { $need ->
    [one] { $need } друга
    [few] { $need } друзей
   *[many] { $need } друзей
}
badge-progress-quest = { $have } из { $need ->
    [one] { $need } задания
    [few] { $need } заданий
   *[many] { $need } заданий
}
badge-progress-quest-one = выполните его задание
badge-progress-streak-day = лучшая серия { $have } из { $need ->
    [one] { $need } дня
    [few] { $need } дней
   *[many] { $need } дней
}
badge-progress-streak-week = лучшая серия { $have } из { $need ->
    [one] { $need } недели
    [few] { $need } недель
   *[many] { $need } недель
}
badge-progress-tier = достигните уровня { $tier }
badge-progress-award = особая награда
notice-badge-earned = 🏅 Новый значок: { $emoji } { $title }! { $description }
badges-more = …и ещё { $count ->
    [one] { $count } значок
    [few] { $count } значка
   *[many] { $count } значков
}
