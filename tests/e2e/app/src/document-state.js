// What a document shows, read the same way from a live page and from rrweb's replay iframe
// so that footlight's tests can compare the two: the title, the visible text of <body>
// (innerText, so hidden elements and <script>s do not count) and every form field's value.
export function documentState(doc) {
  const fields = Array.from(doc.querySelectorAll('input, textarea, select'))
  return {
    title: doc.title,
    text: doc.body ? doc.body.innerText : '',
    inputs: fields.map((el, index) => ({
      id: el.id,
      name: el.getAttribute('name') || '',
      key: `${el.tagName.toLowerCase()}[${index}]`,
      value: el.value,
      checked: el.type === 'checkbox' || el.type === 'radio' ? el.checked : null,
    })),
  }
}
