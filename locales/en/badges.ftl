## Badges: the shelf in the chat and the notice of a new one

menu-badges = 🏅 Badges
words-badges = badges, achievements
badges-none = There are no badges to earn yet. Check back soon!
badges-title = 🏅 Your badges: { $earned } of { $total }
badges-earned = ✓ { $emoji } { $title }: { $description } ({ $date })
badges-locked = { $lock } { $emoji } { $title }: { $progress }
badge-progress-first-purchase = make your first purchase
badge-progress-visits = { $have } of { $need ->
    [one] { $need } visit
   *[other] { $need } visits
}
badge-progress-friends = { $have } of { $need ->
    [one] { $need } friend
   *[other] { $need } friends
}
badge-progress-quest = { $have } of { $need ->
    [one] { $need } quest
   *[other] { $need } quests
}
badge-progress-quest-one = finish its quest
badge-progress-streak-day = best streak { $have } of { $need ->
    [one] { $need } day
   *[other] { $need } days
}
badge-progress-streak-week = best streak { $have } of { $need ->
    [one] { $need } week
   *[other] { $need } weeks
}
badge-progress-tier = reach the level { $tier }
badge-progress-award = a special reward
notice-badge-earned = 🏅 New badge: { $emoji } { $title }! { $description }
badges-more = …and { $count ->
    [one] { $count } more badge
   *[other] { $count } more badges
}
