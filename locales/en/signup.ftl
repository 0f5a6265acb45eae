## Sign-up: /start, accept the terms, choose about offers (handlers/flows/signup.py)
signup-welcome =
    Welcome to { $program }! Here is how it works:
    { $rules }

    To open your card, please accept the program terms.
signup-language = We are talking in { $language }. Tap another language below to switch.
signup-terms-accept = ✅ I accept the terms
signup-terms-decline = ❌ Decline
signup-terms-declined = Without accepting the terms we cannot open your card. Choose "I accept the terms" whenever you are ready.
signup-marketing = One more question before your card: shall we send you personal offers and news? Your points do not depend on it, and you can change it at any time.
signup-marketing-yes = 🔔 Yes, please
signup-marketing-no = No, thanks
signup-phone-card = Your phone number already has a card with us: { $card }. If it is yours, use it here instead of opening a new one.
signup-phone-card-link = 🔗 It is my card
signup-skip = Skip
signup-repeat = Please choose one of the options below.
signup-done = Your card is ready! { $bonus ->
    [0] Welcome to { $program }.
   *[other] You get { $points } as a welcome gift.
}
    Your card number: { $card }. Show it (or the QR in 💳 My card) at the till.
signup-referred = You joined through a friend's invitation.
signup-profile = You can add your phone and birthday any time in 👤 Profile.
signup-profile-birthday-gift = Add your birthday in 👤 Profile and get { $points } on the day.
signup-profile-quest = Add your { $fields } in 👤 Profile: { $reward }.
