-- intake.outreach.logged: counts of outreach contacts with people not registered.
CREATE TABLE outreach_contacts (
    outreach_id uuid PRIMARY KEY,
    site        text NOT NULL,
    contacts    int NOT NULL,
    mode        text NOT NULL,
    minutes     int NOT NULL,
    outreach_on date NOT NULL
);
