## Отзыв после покупки: «порекомендуете ли вы нас?» 0–10, затем комментарий по желанию

feedback-thanks = Спасибо за ответ!
feedback-reward = За ответ начислено { $points }. Ваш баланс: { $balance }.
feedback-comment-prompt = Хотите что-то добавить? Напишите следующим сообщением в течение { $minutes ->
    [one] { $minutes } минуты
    [few] { $minutes } минут
   *[many] { $minutes } минут
} (по желанию).
feedback-comment-thanks = Спасибо, ваш комментарий передан магазину.
feedback-already-counted = Вы уже ответили на этот вопрос: засчитан ваш первый ответ.
feedback-out-of-range = Пожалуйста, ответьте целым числом от { $low } до { $high }.
feedback-not-asked = Сейчас нет вопроса, который ждёт вашего ответа.

## История: награда за ответ
reason-feedback = Спасибо за отзыв
