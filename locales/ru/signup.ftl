## Sign-up: /start, accept the terms, choose about offers (handlers/flows/signup.py)
signup-welcome =
    Добро пожаловать в { $program }! Вот как это работает:
    { $rules }

    Чтобы открыть карту, примите, пожалуйста, условия программы.
signup-language = Мы общаемся на языке: { $language }. Чтобы сменить язык, нажмите другой ниже.
signup-terms-accept = ✅ Принимаю условия
signup-terms-decline = ❌ Отказаться
signup-terms-declined = Без согласия с условиями мы не можем открыть карту. Выберите «Принимаю условия», когда будете готовы.
signup-marketing = Ещё один вопрос перед картой: присылать вам персональные предложения и новости? Баллы от этого не зависят, а решение можно изменить в любой момент.
signup-marketing-yes = 🔔 Да, присылайте
signup-marketing-no = Нет, спасибо
signup-phone-card = На ваш номер телефона у нас уже есть карта: { $card }. Если она ваша, пользуйтесь ею здесь вместо новой.
signup-phone-card-link = 🔗 Это моя карта
signup-skip = Пропустить
signup-repeat = Выберите, пожалуйста, один из вариантов ниже.
signup-done = Ваша карта готова! { $bonus ->
    [0] Добро пожаловать в { $program }.
   *[other] В подарок вам { $points }.
}
    Номер карты: { $card }. Покажите его (или QR-код в разделе 💳 Моя карта) на кассе.
signup-referred = Вы присоединились по приглашению друга.
signup-profile = Телефон и день рождения можно добавить в любой момент в разделе 👤 Профиль.
signup-profile-birthday-gift = Укажите день рождения в разделе 👤 Профиль — в этот день получите { $points }.
signup-profile-quest = Добавьте { $fields } в разделе 👤 Профиль и получите { $reward }.
