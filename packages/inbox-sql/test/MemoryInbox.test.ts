import * as InboxOperationsSuite from "@witkey/testkit/InboxOperationsSuite"
import * as InboxSuite from "@witkey/testkit/InboxSuite"
import * as MemoryInbox from "@witkey/testkit/MemoryInbox"

InboxSuite.suite("MemoryInbox", MemoryInbox.layer)
InboxOperationsSuite.suite("MemoryInbox", MemoryInbox.layerWith)
