import test from 'ava'
import { withNs } from '../../src/registry-mirror/tags.ts'

test('a tag list page link keeps the client\'s ?ns= and the page query', t => {
  t.is(withNs('</v2/lib/app/tags/list?last=v1.9&n=100>; rel="next"', 'registry.example.com:5000'), '</v2/lib/app/tags/list?last=v1.9&n=100&ns=registry.example.com%3A5000>; rel="next"')
  t.is(withNs('</v2/lib/app/tags/list?n=2&ns=other.example>; rel="next"', 'mine.example'), '</v2/lib/app/tags/list?n=2&ns=mine.example>; rel="next"', 'an ns from upstream is replaced')
  t.is(withNs('<https://origin.example/v2/lib/app/tags/list?last=b>; rel="next"', 'origin.example'), '</v2/lib/app/tags/list?last=b&ns=origin.example>; rel="next"', 'an absolute link points at the mirror')
})
