"""What members read: translations, progress cards, job pages, usage reports, model pages."""
