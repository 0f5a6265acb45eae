## Конкурсы: розыгрыши, которые может проверить каждый

menu-contests = 🎉 Конкурсы
words-contests = конкурсы, конкурс, розыгрыш, розыгрыши
contests-empty = Сейчас конкурсов нет. Загляните попозже!
contests-title = Конкурсы:
contests-line = • { $title }: { $state }
contest-gone = Этот конкурс больше недоступен.
contest-page-title = 🏆 { $title }
contest-state-upcoming = Начнётся { $date }.
contest-state-open = Участвовать можно до { $date }.
contest-state-closed = Приём участников закрыт; розыгрыш { $date }.
contest-state-drawn = Розыгрыш состоялся.
contest-prize = Приз: { $prize }
contest-prize-coupon = купон
contest-places-winners = { $count ->
    [one] { $count } победитель
    [few] { $count } победителя
   *[many] { $count } победителей
}
contest-places-reserves = { $count ->
    [0] без запасных
    [one] { $count } запасной, если победитель выбудет
    [few] { $count } запасных, если победители выбудут
   *[many] { $count } запасных, если победители выбудут
}
contest-tickets-join = • За участие: { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}
contest-tickets-purchase = • За каждую покупку: { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}
contest-tickets-friend = • За каждого приглашённого друга: { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}
contest-tickets-quest = • За каждое выполненное задание: { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}
contest-not-entered = Вы ещё не участвуете.
contest-your-entry = Вы участвуете как { $pseudonym }: { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}.
contest-commitment = Честный розыгрыш: магазин заранее опубликовал sha256(seed) = { $commitment } и раунд drand { $chain } № { $round }, которого до розыгрыша ещё нет.
contest-frozen = Список участников зафиксирован: { $count ->
    [one] { $count } участник
    [few] { $count } участника
   *[many] { $count } участников
}, sha256 { $hash }.
contest-winners = Победители: { $winners }
contest-verify-hint = Проверить розыгрыш может каждый: /contests/{ $id }/draw.json на сайте магазина.
contest-join-button = ✅ Участвовать
contest-claim-button = 🎁 Получить приз
contest-back = ⬅️ Все конкурсы
contest-joined = Вы участвуете! Ваш псевдоним в розыгрыше — { $pseudonym }; у вас { $count ->
    [one] { $count } билет
    [few] { $count } билета
   *[many] { $count } билетов
}.
contest-join-closed = Сейчас в этом конкурсе участвовать нельзя.
contest-join-not-needed = Записываться не нужно: билеты начисляются за покупки и активность.
contest-join-ineligible = К сожалению, ваш аккаунт не может участвовать в этом конкурсе.
contest-claim-not-winner = В этом конкурсе у вас нет приза, который можно получить.
contest-claim-expired = К сожалению, срок получения приза истёк; он перешёл следующему в очереди.
contest-claim-ineligible = К сожалению, ваш аккаунт больше не может получить этот приз; он перешёл следующему в очереди.
contest-claim-coupon-failed = Не удалось выдать купон-приз. Пожалуйста, обратитесь в магазин.
reason-contest_prize = Приз конкурса: { $reference }
contest-claimed = 🎉 Приз ваш!
contest-claimed-points = На ваш счёт начислено { $points }.
contest-claimed-coupon = Ваш купон: { $code } (он также в разделе «Мои купоны»).
contest-claimed-item = { $item }: покажите это сообщение в магазине, чтобы получить приз.
notice-contest-won = 🎉 Вы выиграли в конкурсе «{ $title }»! Получите приз до { $deadline }.
notice-contest-reserve-won = 🎉 Освободилось место: вы выиграли в конкурсе «{ $title }» как запасной! Получите приз до { $deadline }.

## Публичная страница конкурса

web-contest-entries = Зафиксированный список участников
web-contest-entries-open = Список участников фиксируется и публикуется при закрытии приёма.
web-contest-pseudonym = Псевдоним
web-contest-tickets = Билеты
web-contest-results = Итоги розыгрыша
web-contest-position = Место
web-contest-status = Статус
web-contest-transcript = Протокол розыгрыша (JSON)
web-contest-how-to-check = Как проверить: скачайте протокол и выполните `python main.py verify-draw draw.json` (или отдельный draw.py из исходного кода программы). Проверка убедится, что раскрытый seed даёт опубликованный хеш, что список участников даёт опубликованный хеш, что маяк — обещанный раунд drand (по его подписи League of Entropy), и заново вычислит победителей.

## Конкурсы по таблице лидеров: побеждают лучшие за период конкурса

contest-metric-points = баллам за покупки
contest-metric-friends = приглашённым друзьям
contest-metric-quests = выполненным заданиям
contest-ranked-by = Побеждают лучшие в таблице: места по { $metric } с начала до конца конкурса; при равенстве выше тот, кто набрал результат раньше.
contest-everyone-ranked = Участвуют все: вступать не нужно.
contest-leaderboard-how = Вступите одним нажатием: засчитывается всё, что вы наберёте после этого.
contest-leaderboard-joined = Вы участвуете! Засчитывается всё, что вы наберёте с этого момента; в итоговой таблице вы — { $pseudonym }.
contest-standings-empty = В таблице пока никого нет: будьте первым!
contest-standings-frozen = Итоговая таблица зафиксирована: { $count ->
    [one] { $count } участник
    [few] { $count } участника
   *[many] { $count } участников
}, sha256 { $hash }.
contest-your-pseudonym = В итоговой таблице вы — { $pseudonym }.
contest-state-counting = Конкурс завершён; подводим итоги.
contest-state-final = Конкурс завершён; итоги окончательные.
web-contest-standings = Таблица
web-contest-name = Имя
web-contest-score = Результат
web-contest-reached-at = Когда набран (UTC)
web-contest-how-to-check-top = Как проверить: скачайте протокол и запустите `python main.py verify-draw draw.json` (или отдельный draw.py из исходного кода программы). Он проверяет, что хеш итоговой таблицы совпадает с опубликованным и что победители и запасные — её верх (результат, затем кто набрал его раньше) за вычетом перечисленных исключений. Жеребьёвки нет, поэтому нет ни seed, ни маяка.
