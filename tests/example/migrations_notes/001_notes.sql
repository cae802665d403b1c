CREATE TABLE notes (
    note_id    uuid PRIMARY KEY,
    site       text NOT NULL,
    text       text NOT NULL,
    written_on date NOT NULL
);
