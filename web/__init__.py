"""The one web application: health, channels' webhooks, signed media, and (to come) the
shop's API, the marketers' admin and the members' cabinet. Imports no messenger SDK: it
reaches channels only through `bots.base.Channel`."""
