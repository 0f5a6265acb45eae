## Рассылки: подписи кнопок рассылки, если маркетолог не задал своих

broadcast-button-coupon = 🎟 Мой купон
broadcast-button-coupons = 🎟 Мои купоны
broadcast-button-rewards = 🛍 Награды
broadcast-button-reward = 🛍 Получить награду
broadcast-button-quests = 🎯 Задания
broadcast-button-quest = 🎯 Открыть задание

## Что {name} говорит в рассылке участнику без имени
broadcast-nameless = друг

## Что {tier} говорит в рассылке участнику без уровня
broadcast-no-tier = пока без уровня
