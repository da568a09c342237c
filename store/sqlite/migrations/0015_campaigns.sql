-- Segments, campaigns (群发), their tasks and per-customer sends (store.CampaignStore).

CREATE TABLE segments (
    id         TEXT    PRIMARY KEY,
    doc        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
    id         TEXT    PRIMARY KEY,
    doc        TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX campaigns_created ON campaigns (created_at);

CREATE TABLE campaign_tasks (
    campaign_id TEXT    NOT NULL,
    sender      TEXT    NOT NULL,
    chunk       INTEGER NOT NULL,
    doc         TEXT    NOT NULL,
    PRIMARY KEY (campaign_id, sender, chunk)
);

CREATE TABLE campaign_sends (
    campaign_id     TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL,
    external_userid TEXT    NOT NULL DEFAULT '',
    sender          TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL,
    at              INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, customer_id)
);
CREATE INDEX campaign_sends_at ON campaign_sends (at);
