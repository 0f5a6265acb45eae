## Feedback after a purchase: "would you recommend us?" 0-10, then an optional comment

# The question when the broadcast gives none in the member's language.
feedback-question = How likely are you to recommend us to a friend? 0 – not at all, 10 – certainly.
feedback-thanks = Thank you for your answer!
feedback-reward = { $points } added for answering. Your balance: { $balance }.
feedback-comment-prompt = Anything to add? Write it in your next message within { $minutes ->
    [one] { $minutes } minute
   *[other] { $minutes } minutes
} (optional).
feedback-comment-thanks = Thank you, your comment is with the shop now.
feedback-already-counted = You have already answered this question: your first answer is counted.
feedback-out-of-range = Please answer with a whole number from { $low } to { $high }.
feedback-not-asked = There is no question waiting for your answer right now.

## History: the reward for answering
reason-feedback = Thank you for your feedback
