-- Whose turn it is for each robot that hands out work in turn (`directory.next-in-turn`): the
-- user it gave the last item to (none before the first). Kept by the host and taken in a
-- transaction of its own the moment a run asks, so runs of one robot that run together (one
-- claimed batch, two workers, two hosts) each get the next user; derived from the items
-- instead, they all saw the same "last assigned" and gave everything to one user.
CREATE TABLE robot_turns (
    robot_id TEXT PRIMARY KEY REFERENCES robots(id) ON DELETE CASCADE,
    last_user_id BIGINT
);
