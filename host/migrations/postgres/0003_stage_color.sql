-- Stage colours, as crm.status.* carries them ("#39A8EF"); NULL shows the default colour.
ALTER TABLE stages ADD COLUMN color TEXT;
