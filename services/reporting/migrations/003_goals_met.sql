-- Care-plan goals met, from intake's case.goal_met (ids and dates; the goal's text stays in
-- intake).
CREATE TABLE goals_met (
    goal_id  uuid PRIMARY KEY,
    site     text NOT NULL,
    met_on   date NOT NULL
);
CREATE INDEX goals_met_on ON goals_met (met_on, site);
