//! Telephony transports: one call leg's wire protocol as a sans-IO codec.
