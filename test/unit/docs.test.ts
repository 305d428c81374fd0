import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { errors } from '../../lib/core/errors'
import { OPTION_NAMES } from '../../lib/core/options'

/*
 * The documented lists must be the code's lists: every error code once in
 * each errors table, every plugin option once in each options table.
 */

const ROOT = join(__dirname, '..', '..')

/** The first-column names of the table rows in the section under `heading`. */
function tableNames (file: string, heading: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const start = text.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`${file} has no heading "${heading}"`)
  const next = text.slice(start + heading.length + 2).search(/\n## /)
  const section = next < 0 ? text.slice(start) : text.slice(start, start + heading.length + 2 + next)
  return [...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1])
}

const codes = Object.keys(errors).sort()
const options = [...OPTION_NAMES].sort()

for (const [file, errorsHeading, optionsHeading] of [['README.md', '## Errors', '## Options'], ['docs/api.md', '## Errors', '## Plugin options']]) {
  t.test(`${file} lists every error code once, and no other`, async (t) => {
    const listed = tableNames(file, errorsHeading)
    t.same([...listed].sort(), codes)
  })
  t.test(`${file} lists every plugin option once, and no other`, async (t) => {
    const listed = tableNames(file, optionsHeading)
    t.same([...listed].sort(), options)
  })
}
