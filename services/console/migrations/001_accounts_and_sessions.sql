CREATE TABLE staff_accounts (
    username text PRIMARY KEY,
    display_name text NOT NULL,
    roles text[] NOT NULL,
    sites text[] NOT NULL,
    language text NOT NULL DEFAULT 'en',
    password_hash text NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Only a hash of the session id is kept: a copy of the table signs nobody in.
CREATE TABLE sessions (
    id_hash text PRIMARY KEY,
    username text NOT NULL REFERENCES staff_accounts (username) ON DELETE CASCADE,
    csrf text NOT NULL,
    site text,
    token text NOT NULL,
    token_expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_by_username ON sessions (username);
