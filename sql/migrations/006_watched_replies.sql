-- Wake-ups only where someone waits (issue 13). Every NOTIFY reaches the listener of every worker of
-- every instance, so announcing each reply's end and each stored chunk batch cost all of them CPU on
-- every exchange, almost always for nobody. A party that waits on a live reply (a rejoining client, a
-- stop waiting for the end) marks its row first; the reply's end and its chunk batches are announced
-- only for marked rows. The mark and the announcement serialize on the row's lock (see the queries).
ALTER TABLE live_replies ADD COLUMN watched boolean NOT NULL DEFAULT false;
