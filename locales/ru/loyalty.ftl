## Language names, shown in the language picker in their own script.
language-name = Русский

## Amounts
points-amount = { $count ->
    [one] { $count } балл
    [few] { $count } балла
   *[many] { $count } баллов
}

## Main menu
menu-balance = 💰 Баланс
menu-history = 📜 История
menu-card = 💳 Моя карта
menu-language = 🌐 Язык
menu-help = ❓ Помощь
menu-marketing-off = 🔕 Не присылать предложения
menu-marketing-on = 🔔 Получать предложения
menu-prompt = Выберите нужное в меню.
menu-welcome-back = С возвращением в { $program }! У вас { $points }.
menu-unknown = Извините, я не понял. Выберите пункт меню или отправьте /help.
button-invalid = Эта кнопка больше не действует. Выберите пункт меню.

## Words a member may type instead of pressing a button.
words-balance = баланс, баллы, бонусы
words-history = история, операции
words-card = карта, моя карта, qr
words-language = язык
words-help = помощь, правила, справка
words-skip = пропустить, нет
# Sent alone, these switch marketing messages off and on at once (WhatsApp convention).
words-stop = стоп, отписаться
words-resume = старт, подписаться

## Balance, history, card
balance = У вас { $points }.
balance-worth = На кассе это { $worth }.
balance-debt = После возврата осталось погасить { $points }: следующие начисления пойдут сначала на это.
history-title = Ваша история, страница { $page } из { $pages }:
history-empty = Операций пока нет. Здесь появятся начисления и списания баллов.
history-line = { $date }  { $sign }{ $amount }  { $reason }
history-newer = ◀ Новее
history-older = Старше ▶
reason-welcome = Приветственный бонус
reason-purchase = Покупка { $reference }
reason-redemption = Оплата баллами
reason-refund = Возврат покупки { $reference }
reason-debt_settlement = Погашение долга по возврату
reason-other = Корректировка
reason-adjustment = Корректировка баланса
card-caption = Ваша карта: { $code }. Покажите этот QR-код на кассе, чтобы копить и тратить баллы.

## Language
language-choose = Выберите язык:
language-changed = Готово, теперь общаемся на русском.

## Marketing consent
marketing-on = Вы будете получать наши персональные предложения и новости. Отписаться можно кнопкой «Не присылать предложения».
marketing-off = Готово, предложений больше не будет. Ваши баллы и карта остаются.

## Help
help =
    { $program }: как это работает
    { $rules }

    Кнопки: Баланс, История, Моя карта, Профиль (телефон, день рождения, язык, часовой пояс). Команды: /balance, /history, /card, /profile, /language, /help.
rules-earn = • { $points } за каждые { $spend } покупки.
rules-value = • { $points } = { $worth } при оплате баллами.
rules-welcome = • Приветственный подарок: { $bonus } при регистрации.
rules-share = • Баллами можно оплатить до { $share } покупки.
rules-no-earn = • Сейчас баллы начисляются только в рамках специальных акций.
rules-expiry = • Баллы сгорают через { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
} после начисления.
rules-referral = • Приглашайте друзей: когда друг { $qualifies }, вы получите { $referrer }, а он — { $friend }.
rules-birthday = • Подарок на день рождения: { $bonus }.
rules-birthday-coupon = • Подарок на день рождения: { $bonus } и купон.
rules-birthday-coupon-only = • Подарок на день рождения: купон.
rules-tier-birthday = , подарок на день рождения — { $bonus }
rules-event-review = • { $points } за отзыв.
rules-event-survey = • { $points } за участие в опросе.

## Problems
flood-slow-down = Вы отправляете сообщения слишком быстро. Подождите несколько секунд, и я снова отвечу.
error-generic = У нас что-то пошло не так. Попробуйте через минуту — ваши баллы в сохранности.

## The console channel (a terminal, for trying the program locally)
console-intro = Бот программы лояльности в терминале. Напишите сообщение или номер варианта. /quit — выход.
console-type-phone = Введите номер телефона, например +79991234567.
console-unavailable = Сервис ненадолго недоступен. Пожалуйста, отправьте это ещё раз чуть позже.
console-image-saved = Сохранено: { $path }

## Telegram's command menu (descriptions, at most 256 characters)
command-start = Начать или открыть меню
command-balance = Мои баллы
command-history = Моя история
command-card = Моя карта
command-language = Сменить язык
command-help = Как работает программа

## Linking another messenger to the same card
menu-link = 🔗 Мои мессенджеры
words-link = привязать, связать, мессенджеры
link-code =
    Ваш код привязки: { $code }
    В течение { $minutes } минут отправьте его нашему боту в другом мессенджере (Telegram, VK или WhatsApp). Код действует один раз.
link-done = Готово! Этот мессенджер привязан к вашей карте { $card }. У вас { $points }.
link-merged = Готово! Два ваших аккаунта объединены в одну карту { $card }: перенесено { $moved }. У вас { $points }.
link-already = Этот мессенджер уже привязан к вашей карте.
link-invalid = Такого кода привязки нет. Проверьте его и попробуйте ещё раз.
link-expired = Срок действия кода истёк. Запросите новый в другом мессенджере.
link-used = Этот код уже использован. Запросите новый в другом мессенджере.
link-too-many = Слишком много неверных кодов. Подождите 15 минут и попробуйте снова.
reason-merge_in = Перенос с другого аккаунта { $reference }
reason-merge_out = Перенос на карту { $reference }

messengers-title = Мессенджеры, привязанные к карте { $card }:
messengers-line = • { $channel } …{ $tail }
messengers-hint = Чтобы пользоваться этой картой в другом мессенджере, получите код привязки и отправьте его нашему боту там.
messengers-get-code = ➕ Получить код привязки
messengers-unlink = ✖ Отвязать { $channel } …{ $tail }
messengers-unlinked = { $channel } …{ $tail } больше не привязан к вашей карте.
messengers-last = Это единственный мессенджер вашей карты, его нельзя отвязать.
messengers-not-found = Этот мессенджер уже не привязан к вашей карте.
channel-telegram = Telegram
channel-vk = ВКонтакте
channel-whatsapp = WhatsApp
channel-console = Консоль

## Privacy: the member's own data
menu-privacy = 🔒 Мои данные
words-privacy = приватность, мои данные, удалить
privacy-info = Что мы храним: ваше имя, язык, телефон и день рождения (если вы их указали), ваши согласия, мессенджеры и историю баллов. Вы можете получить всё это файлом или удалить аккаунт.
privacy-export-button = 📄 Прислать мои данные
privacy-erase-button = 🗑 Удалить аккаунт
privacy-export = Вот всё, что мы о вас храним.
privacy-erase-confirm = Удалить аккаунт? Ваше имя, телефон, день рождения и мессенджеры будут стёрты во всех каналах, а карта с { $points } перестанет действовать. Это нельзя отменить.
privacy-erase-yes = 🗑 Да, удалить всё
privacy-erase-no = Нет, оставить карту
privacy-erased = Аккаунт удалён, персональные данные стёрты. Спасибо, что были с нами; вернуться можно в любой момент командой /start.

## Inviting friends
menu-invite = 🎁 Пригласить друзей
words-invite = пригласить, друзья, рефералы
invite-intro = Приглашайте друзей в { $program }: когда друг { $qualifies }, вы получите { $referrer_bonus }, а друг — { $friend_bonus }.
invite-qualifies-join = присоединится
invite-qualifies-first_purchase = сделает первую покупку
invite-links = Ваши личные ссылки:
invite-link-line = • { $channel }: { $link }
invite-code = Или друг может отправить нашему боту этот код: { $code }
invite-progress = Пока что: { $joined ->
    [one] присоединился { $joined } друг
    [few] присоединились { $joined } друга
   *[many] присоединились { $joined } друзей
}, условие выполнили: { $rewarded }, вы получили { $points }.

## Notices
notice-points-earned = ✨ Вам начислено: { $points }. Ваш баланс: { $balance }.
notice-points-spent = Списано: { $points }. Ваш баланс: { $balance }.
notice-points-added = ✏️ Магазин исправил ваш баланс: начислено { $points }. Ваш баланс: { $balance }.
notice-points-taken = ✏️ Магазин исправил ваш баланс: списано { $points }. Ваш баланс: { $balance }.
notice-coupon-voided = Ваш купон { $code } ({ $campaign }) отменён магазином и больше не действует.
notice-coupon-received = 🎟 Для вас купон: { $benefit }. Ваш код: { $code }
notice-coupon-campaign = Акция: { $campaign }
notice-coupon-valid-until = Действует до { $date }.
notice-coupon-show = Покажите этот QR-код или назовите код на кассе.
notice-coupon-percent = скидка { $percent }
notice-coupon-fixed = скидка { $amount }
notice-coupon-item = { $item } в подарок
notice-coupon-generic = подарок
notice-tier-upgraded = 🏆 Поздравляем! Теперь у вас уровень «{ $tier }».
notice-tier-downgraded = Теперь у вас уровень «{ $tier }». Делайте покупки, чтобы вернуть прежний.
notice-tier-base = базовый
notice-points-expiring = ⏳ { $date } сгорят { $points }. Успейте потратить!
notice-coupon-expiring = ⏳ Ваш купон { $code } ({ $benefit }) действует до { $date }. Успейте воспользоваться!
notice-points-expired = ⌛ Сгорело: { $points }. Ваш баланс: { $balance }.
notice-birthday = 🎂 С днём рождения! Спасибо, что вы с нами.
notice-birthday-bonus = 🎂 С днём рождения! Наш подарок вам: { $points }.
notice-birthday-coupon = Ваш купон ко дню рождения: { $code }

## Tiers and earning
tier-current = Ваш уровень: { $tier }
tier-perks = Ваши привилегии: { $perks }
tier-next-spend = До уровня «{ $tier }» осталось потратить { $amount }.
tier-next-points = До уровня «{ $tier }» осталось получить за покупки { $amount }.
tier-keep-spend = Чтобы сохранить уровень «{ $tier }», потратьте ещё { $amount } до { $date }.
tier-keep-points = Чтобы сохранить уровень «{ $tier }», получите за покупки ещё { $amount } до { $date }.
tier-top = Это наш самый высокий уровень.
rules-tiers-spend = Уровни — по сумме покупок за { $days ->
    [one] последний { $days } день
    [few] последние { $days } дня
   *[many] последние { $days } дней
}:
rules-tiers-points = Уровни — по баллам за покупки за { $days ->
    [one] последний { $days } день
    [few] последние { $days } дня
   *[many] последние { $days } дней
}:
rules-tier-line = • { $tier }: от { $threshold }, баллы × { $multiplier }
rules-promotion = • { $promotion }: баллы × { $multiplier }
rules-promotion-until = • { $promotion }: баллы × { $multiplier } до { $date }
reason-event = Бонус: { $reference }

## Coupons and rewards
menu-coupons = 🎟 Мои купоны
words-coupons = купоны, мои купоны, купон
menu-rewards = 🛍 Награды
words-rewards = награды, каталог, подарки
coupons-empty = Сейчас у вас нет действующих купонов. Получите купон за баллы в разделе «🛍 Награды».
coupons-title = { $count ->
    [one] У вас { $count } действующий купон:
    [few] У вас { $count } действующих купона, сначала те, что скоро истекут:
    [many] У вас { $count } действующих купонов, сначала те, что скоро истекут:
   *[other] У вас { $count } действующего купона, сначала те, что скоро истекут:
}
coupon-title = 🎟 { $campaign }
coupon-code = Код: { $code }
coupon-gives-percent = Скидка { $percent } на заказ
coupon-gives-fixed = Скидка { $amount } на заказ
coupon-gives-free-item = В подарок: { $item }
coupon-min-order = Для заказа от { $amount }
coupon-valid-until = Действует до { $date }
coupon-no-expiry = Без срока действия
coupon-uses-left = { $count ->
    [one] Можно использовать { $count } раз.
    [few] Можно использовать { $count } раза.
    [many] Можно использовать { $count } раз.
   *[other] Можно использовать { $count } раза.
}
coupon-terms = Условия: { $terms }
coupon-show = Покажите этот QR-код или назовите код на кассе.
rewards-empty = Сейчас наград нет. Загляните попозже!
rewards-title = 🛍 Награды за баллы. У вас { $points }.
rewards-line = • { $name }: { $cost } ({ $stock })
rewards-button = { $name } · { $cost }
rewards-previous = ◀ Назад
rewards-next = Ещё ▶
reward-stock = { $count ->
    [one] осталась { $count } штука
    [few] осталось { $count } штуки
    [many] осталось { $count } штук
   *[other] осталось { $count } штуки
}
reward-stock-unlimited = в наличии
reward-out-of-stock = закончилось
reward-title = 🛍 { $name }
reward-cost = Цена: { $cost }. У вас { $points }.
reward-limit = { $count ->
    [one] Не больше { $count } раза на участника.
    [few] Не больше { $count } раз на участника.
    [many] Не больше { $count } раз на участника.
   *[other] Не больше { $count } раза на участника.
}
reward-claim-button = ✅ Получить за { $cost }
reward-back = ◀ Все награды
reward-confirm = Получить «{ $name }» за { $cost }? У вас останется { $points }.
reward-confirm-yes = ✅ Да, получить
reward-confirm-no = Нет
reward-claimed = Готово! «{ $name }» ваша награда за { $cost }. У вас осталось { $points }. Ваш купон:
reward-not-enough = Для «{ $name }» не хватает { $missing }. Баллы начисляются за покупки!
reward-sold-out = Увы, «{ $name }» только что закончилось.
reward-limit-reached = Вы уже получили «{ $name }» столько раз, сколько можно одному участнику.
reward-gone = Этой награды больше нет.
reason-reward = Награда: { $reference }

## Tiers and earning
rules-tier-line-plain = • { $tier }: от { $threshold }

## Expiry and other history lines
reason-expiry = Баллы сгорели
reason-birthday = Бонус ко дню рождения
reason-referral_friend = Бонус за вступление по приглашению
reason-referral_referrer = Бонус за приглашённого друга
balance-expiring = Ближайшее сгорание: { $points } — { $date }.

## Time zone
menu-timezone = 🕒 Часовой пояс
words-timezone = часовой пояс
time-zone-choose = В каком вы часовом поясе? Так мы поздравим вас с днём рождения именно в ваш день. Сейчас: { $zone }.
time-zone-changed = Готово: ваш часовой пояс — { $zone }.

## Returned orders: points and coupons given back
reason-redemption_cancel = Возврат баллов: заказ отменён
notice-points-returned = ↩️ Вам вернули { $points }: заказ, оплаченный баллами, отменён. Ваш баланс: { $balance }.
notice-points-returned-expired = Из них сгорело по сроку сразу же: { $expired }.
notice-coupon-restored = 🎟 Заказ с купоном { $code } отменён: купоном снова можно воспользоваться.
notice-coupon-not-restored = Заказ с купоном { $code } отменён. Купон уже недействителен, поэтому воспользоваться им снова нельзя.
