// Runs before each test file. The unit project shares one module graph between the files of a worker
// (`isolate: false`), and @effect/vitest's `layer(...)` rebinds the shared `it.effect`, `it.scoped`, ... to its
// own layer's runtime (it assigns its methods onto vitest's `it`): left alone, the next file's `it.effect` would
// run without the TestClock, on a closed runtime. Each file starts from @effect/vitest's own methods again, as it
// would in a fresh module graph.
import { makeMethods } from "@effect/vitest"
import { it } from "vitest"

// The same object @effect/vitest extended when it loaded (its `scopedFixtures` included): only the methods it
// assigns are put back.
makeMethods(it as unknown as Parameters<typeof makeMethods>[0])
