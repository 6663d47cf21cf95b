import * as MemoryPayoutJournal from "../src/MemoryPayoutJournal.js"
import * as PayoutJournalSuite from "../src/PayoutJournalSuite.js"

PayoutJournalSuite.suite("MemoryPayoutJournal", MemoryPayoutJournal.layer)
