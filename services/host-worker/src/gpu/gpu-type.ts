/**
 * Quire GPU type keys (requests and the price book) from the product name the
 * driver reports. Unknown products get a slug of their name so they still show
 * up in the inventory, just without a price.
 */
const KNOWN_GPU_TYPES: ReadonlyArray<{ pattern: RegExp; gpuType: string }> = [
  { pattern: /\bH200\b/i, gpuType: 'h200-141gb' },
  { pattern: /\bH100\b/i, gpuType: 'h100-80gb' },
  { pattern: /\bA100\b.*\b80\s?GB\b/i, gpuType: 'a100-80gb' },
  { pattern: /\bA100\b/i, gpuType: 'a100-40gb' },
  { pattern: /\bL4\b/i, gpuType: 'l4-24gb' },
  { pattern: /\bA10G\b/i, gpuType: 'a10g-24gb' },
  { pattern: /\bT4\b/i, gpuType: 't4-16gb' },
];

export function gpuTypeForProductName(productName: string): string {
  const known = KNOWN_GPU_TYPES.find(({ pattern }) => pattern.test(productName));
  if (known) return known.gpuType;
  const slug = productName
    .toLowerCase()
    .replace(/^nvidia\s+/, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug.length > 0 ? slug : 'unknown-gpu';
}
