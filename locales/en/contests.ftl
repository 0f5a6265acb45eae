## Contests: giveaways with a draw anyone can verify

menu-contests = 🎉 Contests
words-contests = contests, contest, giveaway, giveaways, draw
contests-empty = No contests right now. Look in again soon!
contests-title = Contests:
contests-line = • { $title }: { $state }
contest-gone = This contest is no longer available.
contest-page-title = 🏆 { $title }
contest-state-upcoming = Starts on { $date }.
contest-state-open = Open until { $date }.
contest-state-closed = Entries are closed; the draw is on { $date }.
contest-state-drawn = The draw has taken place.
contest-prize = Prize: { $prize }
contest-prize-coupon = a coupon
contest-places-winners = { $count ->
    [one] { $count } winner
   *[other] { $count } winners
}
contest-places-reserves = { $count ->
    [0] no reserves
    [one] { $count } reserve if a winner drops out
   *[other] { $count } reserves if winners drop out
}
contest-tickets-join = • Join: { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}
contest-tickets-purchase = • Every purchase: { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}
contest-tickets-friend = • Every friend who qualifies: { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}
contest-tickets-quest = • Every quest completed: { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}
contest-not-entered = You have not entered yet.
contest-your-entry = You are in as { $pseudonym } with { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}.
contest-commitment = Fair draw: the shop committed to sha256(seed) = { $commitment } and to drand { $chain } round { $round }, which does not exist before the draw.
contest-frozen = Entry list frozen: { $count ->
    [one] { $count } entry
   *[other] { $count } entries
}, sha256 { $hash }.
contest-winners = Winners: { $winners }
contest-verify-hint = Anyone can check the draw: /contests/{ $id }/draw.json on the shop's web site.
contest-join-button = ✅ Join
contest-claim-button = 🎁 Claim the prize
contest-back = ⬅️ All contests
contest-joined = You're in! Your pseudonym in the draw is { $pseudonym }; you have { $count ->
    [one] { $count } ticket
   *[other] { $count } tickets
}.
contest-join-closed = This contest is not open for entries right now.
contest-join-not-needed = No need to join: tickets come with your purchases and activity.
contest-join-ineligible = Sorry, your account cannot take part in this contest.
contest-claim-not-winner = There is no prize of yours to claim in this contest.
contest-claim-expired = Sorry, the time to claim this prize has passed; it went to the next in line.
contest-claim-ineligible = Sorry, your account can no longer receive this prize; it went to the next in line.
contest-claim-coupon-failed = We could not issue the prize coupon right now. Please contact the shop.
reason-contest_prize = Contest prize: { $reference }
contest-claimed = 🎉 Your prize is yours!
contest-claimed-points = { $points } added to your balance.
contest-claimed-coupon = Your coupon: { $code } (also under My coupons).
contest-claimed-item = { $item }: show this message at the shop to collect it.
notice-contest-won = 🎉 You won «{ $title }»! Claim your prize by { $deadline }.
notice-contest-reserve-won = 🎉 A place opened up: you won «{ $title }» as a reserve! Claim your prize by { $deadline }.

## The contest's public web page

web-contest-entries = Frozen entry list
web-contest-entries-open = The entry list is frozen and published at the close.
web-contest-pseudonym = Pseudonym
web-contest-tickets = Tickets
web-contest-results = Result of the draw
web-contest-position = Place
web-contest-status = Status
web-contest-transcript = The draw's transcript (JSON)
web-contest-how-to-check = How to check: download the transcript and run `python main.py verify-draw draw.json` (or the stand-alone draw.py of the program's source). It checks that the revealed seed hashes to the commitment, that the entry list hashes to the published hash, that the beacon is the drand round committed to (its signature by the League of Entropy), and recomputes the winners.

## Leaderboard contests: the top of the contest's period win

contest-metric-points = points from purchases
contest-metric-friends = friends who qualified
contest-metric-quests = quests completed
contest-ranked-by = Top of the table wins: ranked by { $metric } from the start to the end of the contest; on a tie, whoever got there first is ahead.
contest-everyone-ranked = Everyone takes part: no need to join.
contest-leaderboard-how = Join with one tap: what you earn from then on counts.
contest-leaderboard-joined = You're in! What you earn from now on counts; in the final standings you appear as { $pseudonym }.
contest-standings-empty = Nobody is on the table yet: be the first!
contest-standings-frozen = Final standings frozen: { $count ->
    [one] { $count } member
   *[other] { $count } members
}, sha256 { $hash }.
contest-your-pseudonym = In the final standings you are { $pseudonym }.
contest-state-counting = The contest is over; the final standings are being counted.
contest-state-final = The contest is over; the standings are final.
web-contest-standings = Standings
web-contest-name = Name
web-contest-score = Score
web-contest-reached-at = Reached at (UTC)
web-contest-how-to-check-top = How to check: download the transcript and run `python main.py verify-draw draw.json` (or the stand-alone draw.py of the program's source). It checks that the frozen standings hash to the published hash and that the winners and reserves are their top (score, then who reached it first), minus the listed exclusions. There is no draw, so no seed and no beacon.
