## Broadcasts: the captions of a broadcast's buttons when the marketer gave none

broadcast-button-coupon = 🎟 My coupon
broadcast-button-coupons = 🎟 My coupons
broadcast-button-rewards = 🛍 Rewards
broadcast-button-reward = 🛍 Get the reward
broadcast-button-quests = 🎯 Quests
broadcast-button-quest = 🎯 Open the quest

## What {name} says in a broadcast to a member without a name
broadcast-nameless = friend

## What {tier} says in a broadcast to a member in no tier
broadcast-no-tier = no level yet
