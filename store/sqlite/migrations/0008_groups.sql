-- Customer groups (客户群) and their members (store.GroupStore).

CREATE TABLE customer_groups (
    chat_id      TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL DEFAULT '',
    owner_id     TEXT    NOT NULL DEFAULT '',
    notice       TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL DEFAULT 0,
    dismissed_at INTEGER,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX customer_groups_owner ON customer_groups (owner_id, chat_id);

-- Members by their WeCom IDs; customers are found through their identities
-- (user_id is an external_userid, unionid a unionid).
CREATE TABLE customer_group_members (
    chat_id    TEXT    NOT NULL REFERENCES customer_groups (chat_id),
    user_id    TEXT    NOT NULL,
    type       INTEGER NOT NULL,
    joined_at  INTEGER NOT NULL,
    join_scene INTEGER NOT NULL DEFAULT 0,
    unionid    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

CREATE INDEX customer_group_members_user ON customer_group_members (user_id);
CREATE INDEX customer_group_members_unionid ON customer_group_members (unionid) WHERE unionid != '';
