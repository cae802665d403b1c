-- Outreach with people who are not registered is kept as counts: nobody is named.
CREATE TABLE outreach_contacts (
    outreach_id  uuid PRIMARY KEY,
    site         text NOT NULL,
    count        int NOT NULL CHECK (count > 0),
    mode         text NOT NULL,
    minutes      int,
    outreach_on  date NOT NULL,
    logged_by    text NOT NULL
);
CREATE INDEX outreach_contacts_site_on ON outreach_contacts (site, outreach_on);
