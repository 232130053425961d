/**
 * Labels of picked image files: the name of the folder an image is in ("digits/7/a.png" -> 7), or,
 * for files picked without a folder, a leading number in the file name ("7_001.png" -> 7).
 * Class folders are numbered, so every client means the same class by the same number.
 */
export type LabelResult = { label: number } | { problem: string };

export function labelFromPath(relativePath: string, fileName: string, numClasses: number): LabelResult {
  const parts = relativePath.split('/').filter((p) => p.length > 0);
  const range = `0–${numClasses - 1}`;
  let text: string;
  let from: string;
  if (parts.length >= 2) {
    text = parts[parts.length - 2]!;
    from = `folder name '${text}'`;
  } else {
    const m = /^(\d+)(?:[_\-. ]|$)/.exec(fileName);
    if (!m) return { problem: `${fileName}: no label: put images in folders named by class (${range}) or start the file name with the class number, e.g. 7_001.png` };
    text = m[1]!;
    from = `class number ${text} in the file name`;
  }
  const where = parts.length >= 2 ? relativePath : fileName;
  if (!/^\d+$/.test(text)) return { problem: `${where}: ${from} is not a class number (${range})` };
  const label = Number(text);
  if (label >= numClasses) return { problem: `${where}: label ${label} is outside the model's ${numClasses} classes (${range})` };
  return { label };
}

const IMAGE_EXTENSIONS = /\.(png|jpe?g|gif|bmp|webp|avif)$/i;

/** Decides by MIME type, else by extension (some systems give no type). */
export function looksLikeImage(name: string, type: string): boolean {
  return type ? type.startsWith('image/') : IMAGE_EXTENSIONS.test(name);
}

/** Files the person did not mean to pick: .DS_Store, Thumbs.db, desktop.ini and other dotfiles. */
export function isSystemFile(name: string): boolean {
  return name.startsWith('.') || /^(thumbs\.db|desktop\.ini)$/i.test(name);
}
