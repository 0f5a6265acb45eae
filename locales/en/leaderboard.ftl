## Leaderboards and the member's name on them

menu-leaderboard = 🏆 Leaderboard
words-leaderboard = leaderboard, top, ranking
leaderboard-title-points-week = 🏆 Points this week
leaderboard-title-points-month = 🏆 Points this month
leaderboard-title-friends-week = 🏆 Friends invited this week
leaderboard-title-friends-month = 🏆 Friends invited this month
leaderboard-title-quests-week = 🏆 Quests completed this week
leaderboard-title-quests-month = 🏆 Quests completed this month
leaderboard-empty = Nobody is on this board yet: be the first!
leaderboard-line = { $rank } { $name }: { $score }
leaderboard-line-mine = { $rank } { $name }: { $score } ← you
leaderboard-mine = Your place: { $rank } of { $total }, with { $score }.
leaderboard-not-yet-points = You are not on this board yet: a purchase puts you on it.
leaderboard-not-yet-friends = You are not on this board yet: invite a friend to get on it.
leaderboard-not-yet-quests = You are not on this board yet: complete a quest to get on it.
leaderboard-metric-points = Points
leaderboard-metric-friends = Friends
leaderboard-metric-quests = Quests
leaderboard-period-week = This week
leaderboard-period-month = This month
leaderboard-count-friends = { $count ->
    [one] { $count } friend
   *[other] { $count } friends
}
leaderboard-count-quests = { $count ->
    [one] { $count } quest
   *[other] { $count } quests
}
leaderboard-name-button = ✏️ My name
leaderboard-hidden-name = Member #{ $number }
nickname-current = On the leaderboards you appear as { $name }.
nickname-hidden = Your name is hidden on the leaderboards: you appear as { $name }.
nickname-how = To choose a nickname, send /nickname and the name, e.g. /nickname Sunny (2 to 20 letters, digits, spaces, . - _ ').
nickname-hide-button = 🙈 Hide my name
nickname-now-hidden = Done: your name is hidden, you appear as { $name }.
nickname-saved = Done: on the leaderboards you now appear as { $name }.
nickname-refused-empty = A nickname needs at least 2 characters.
nickname-refused-too_long = A nickname can be at most 20 characters long.
nickname-refused-characters = A nickname can only have letters, digits, spaces and . - _ '.
nickname-refused-link = A nickname cannot be a link or an @name.
