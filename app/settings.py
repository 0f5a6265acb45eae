"""Configuration from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.db.state import CLAIM_TTL_SECONDS
from core.shared.languages import SUPPORTED_LOCALES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = "sqlite+aiosqlite:///data/loyalty.db"
    database_pool_size: int = Field(default=20, ge=1, le=500)
    redis_url: str = ""
    # A Redis behind a dead link must not hold a webhook (or a member) for ever: every command
    # of the conversation's store, the update log and the flood gate gives up after this long.
    redis_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = ""
    # For members' invite links; asked from Telegram (getMe) at start when empty.
    telegram_bot_username: str = ""
    telegram_webhook_secret: SecretStr | None = None

    vk_group_token: SecretStr | None = None
    vk_group_id: int | None = None
    vk_confirmation_code: str = ""
    vk_secret: SecretStr | None = None
    vk_api_url: str = ""

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str = ""
    twilio_api_url: str = ""

    public_url: str = ""
    # The reverse proxies in front of the web server (addresses or networks, comma-separated):
    # only their X-Forwarded-Proto and X-Forwarded-Host are believed; anyone else's are ignored.
    trusted_proxies: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)

    default_locale: str = "ru"
    conversation_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    flood_max_messages: int = Field(default=20, ge=1)
    flood_window_seconds: int = Field(default=10, ge=1)
    update_dedupe_ttl_seconds: int = Field(default=48 * 3600, ge=24 * 3600)
    # How long an update's "in progress" claim holds when its process died mid-update (kill -9):
    # until then the platform's redeliveries are answered 503, after it the update is handled.
    update_claim_seconds: int = Field(default=CLAIM_TTL_SECONDS, ge=1, le=3600)
    # Run the job scheduler (birthdays, expiry, ...) and a job worker inside `main.py run`;
    # off for deployments that run `main.py scheduler` and `main.py worker` on their own.
    scheduler_enabled: bool = True
    # Broadcasts: sends per second held across every worker (Telegram: overall and per chat;
    # VK's community limit; Twilio's WhatsApp sender), and how long a worker's claim on a
    # batch of recipients lasts (a killed worker's batch is taken over after it).
    broadcast_telegram_per_second: float = Field(default=30, gt=0, le=1000)
    broadcast_telegram_per_chat_per_second: float = Field(default=1, gt=0, le=30)
    broadcast_vk_per_second: float = Field(default=20, gt=0, le=100)
    broadcast_whatsapp_per_second: float = Field(default=10, gt=0, le=100)
    broadcast_lease_seconds: int = Field(default=300, ge=1, le=3600)
    # Without Redis no `broadcast-send` can wake `main.py run`: it looks for a broadcast to
    # send this often (with Redis, the send wakes the workers at once).
    broadcast_poll_seconds: float = Field(default=1, gt=0, le=60)
    # Days after a broadcast reached a member in which their purchase counts for it (and
    # after its start for the holdout's baseline): `broadcast-status`.
    broadcast_attribution_days: int = Field(default=7, ge=1, le=90)
    # Telegram's paid broadcasts (allow_paid_broadcast): up to 1,000 msg/s, paid in Stars from
    # the bot's balance; broadcast-send shows the cost and asks before it sends.
    broadcast_telegram_paid: bool = False
    # Where `contest-draw` fetches the committed drand round (any relay serves the same value).
    drand_url: str = "https://api.drand.sh"

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: str) -> str:
        _networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None and bool(
            self.telegram_bot_token.get_secret_value()
        )

    @model_validator(mode="after")
    def _webhooks_are_authenticated(self) -> Settings:
        if (
            self.vk_enabled
            and self.public_url
            and not (self.vk_secret and self.vk_secret.get_secret_value())
        ):
            # Without it anyone could post events to /webhook/vk in the members' names.
            raise ValueError("VK_SECRET is required when VK receives events at PUBLIC_URL")
        return self

    @property
    def vk_enabled(self) -> bool:
        return (
            self.vk_group_token is not None
            and bool(self.vk_group_token.get_secret_value())
            and self.vk_group_id is not None
        )

    @property
    def whatsapp_enabled(self) -> bool:
        return (
            bool(self.twilio_account_sid and self.twilio_whatsapp_from)
            and self.twilio_auth_token is not None
            and bool(self.twilio_auth_token.get_secret_value())
        )

    @property
    def telegram_webhook_url(self) -> str | None:
        if not self.public_url:
            return None
        return self.public_url.rstrip("/") + "/webhook/telegram"

    @property
    def locale(self) -> str:
        return self.default_locale if self.default_locale in SUPPORTED_LOCALES else "en"


def _networks(listed: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """TRUSTED_PROXIES: addresses (10.0.0.2, ::1) or networks (10.0.0.0/8), comma-separated."""
    networks = []
    for item in listed.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES: {item.strip()!r} is no IP address or network"
            ) from None
    return tuple(networks)
