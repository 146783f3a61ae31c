window.addEventListener('load', async () => {
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const byText = (text) => [...document.querySelectorAll('a')].find((e) => e.textContent.trim() === text);
  const click = async (text) => { const link = byText(text); if (!link) throw new Error('no link ' + text); link.click(); await wait(300); };
  const linkTexts = (pattern) => [...document.querySelectorAll('a')].map((a) => a.textContent.trim()).filter((t) => pattern.test(t));
  // The menu: "Results" lists the categories, a category its subcategories, a subcategory its files.
  const open = async (category, subcategory, format) => {
    if (byText('Results')) await click('Results');
    await click(category);
    if (subcategory) await click(subcategory);
    const toggle = document.getElementById('toggle-format-' + format);
    if (toggle) { toggle.click(); await wait(300); }
    return Boolean(toggle);
  };
  const decoded = (src) => { try { return atob(src.split(',')[1]); } catch (error) { return ''; } };
  const shown = [];
  let categories = [];
  let error = null;
  await wait(1000);
  try {
    categories = linkTexts(/^\d+\. /);
    for (const category of categories) {
      await open(category, null, 'PNG');
      const subcategories = linkTexts(/ \/ /);  // "base / dataset" (pooled) or "base / dataset / rep r / seed s"
      for (const subcategory of (subcategories.length ? subcategories : [null])) {
        for (const format of ['PNG', 'HTML']) {
          if (!(await open(category, subcategory, format))) continue;
          const count = document.querySelectorAll('a[iconname="eye"]').length;
          for (let i = 0; i < count; i++) {
            await open(category, subcategory, format);
            document.querySelectorAll('a[iconname="eye"]')[i].click();
            await wait(500);
            const images = [...document.querySelectorAll('img')].filter((img) => img.src.startsWith('data:image/png'));
            const pages = [...document.querySelectorAll('iframe')].filter((f) => f.src.startsWith('data:text/html'));
            shown.push({
              category, subcategory, format,
              images: images.map((img) => ({file: (img.src.match(/filename=([^;]+)/) || [])[1], width: img.naturalWidth, height: img.naturalHeight})),
              pages: pages.map((f) => ({file: (f.src.match(/filename=([^;]+)/) || [])[1], text: decoded(f.src).slice(0, 12000)})),
            });
          }
        }
      }
    }
  } catch (caught) { error = String(caught); }
  const out = document.createElement('pre');
  out.id = 'reader-log';
  out.textContent = JSON.stringify({categories, shown, error});
  document.body.appendChild(out);
});
