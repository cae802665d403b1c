-- What keeps a person's data under the retention rule beyond intake's own records: the latest
-- business day groups or volunteers reported them active (attended, enrolled, volunteered, in
-- peer support), learnt from those services' events. Ids and dates only.
CREATE TABLE person_activity (
    person_id       uuid PRIMARY KEY,
    last_active_on  date NOT NULL
);

-- Volunteers' events name a volunteer, or a peer match, rather than the person: the mappings
-- learnt from volunteer.registered and peer_match.started.
CREATE TABLE volunteer_people (
    volunteer_id  uuid PRIMARY KEY,
    person_id     uuid NOT NULL
);

CREATE TABLE peer_match_people (
    match_id      uuid PRIMARY KEY,
    volunteer_id  uuid NOT NULL,
    person_id     uuid NOT NULL
);
