import { GATEWAY_ROUTES, type GpuOfferDto, type NotebookCompute } from '@quire/contracts';
import { useEffect, useId, useState } from 'react';
import type * as Y from 'yjs';
import { request } from '../api/gateway-client';
import { computeFromValue, computeOptions, computeValue, optionText } from './compute-options';
import { META_MAP, readCompute, writeCompute } from './notebook-compute';

/** How often the offer's free/queued counts are refreshed while the notebook is open. */
const OFFER_REFRESH_MS = 30_000;

/**
 * The compute picker: CPU, or a GPU type / MIG slice from the org's offer
 * (GET /api/gpu/offer) with what is free and queued now, and why an option
 * cannot run when it cannot. The choice applies from the next kernel start.
 */
export function ComputePicker({ doc, readOnly }: { doc: Y.Doc; readOnly: boolean }) {
  const [offer, setOffer] = useState<GpuOfferDto | null>(null);
  const [offerError, setOfferError] = useState<string | null>(null);
  const [current, setCurrent] = useState<NotebookCompute | null>(() => readCompute(doc));
  const ids = useId();

  useEffect(() => {
    const meta = doc.getMap(META_MAP);
    const update = () => setCurrent(readCompute(doc));
    meta.observe(update);
    update();
    return () => meta.unobserve(update);
  }, [doc]);

  useEffect(() => {
    let cancelled = false;
    const load = () =>
      request<GpuOfferDto>('GET', GATEWAY_ROUTES.gpuOffer).then(
        (o) => {
          if (cancelled) return;
          setOffer(o);
          setOfferError(null);
        },
        (e: Error) => !cancelled && setOfferError(e.message),
      );
    void load();
    const t = setInterval(() => void load(), OFFER_REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(t);
    };
  }, []);

  const options = computeOptions(offer, current);
  const value = computeValue(current);
  const chosen = options.find((o) => o.value === value);
  const note = offerError
    ? `GPUs cannot be listed right now: ${offerError}`
    : chosen && chosen.value !== 'cpu'
      ? [chosen.availability, chosen.note].filter(Boolean).join(' — ')
      : null;

  return (
    <span className="compute-picker" data-testid="compute-picker">
      <label htmlFor={`${ids}-compute`}>Compute</label>
      <select
        id={`${ids}-compute`}
        value={value}
        disabled={readOnly}
        aria-describedby={note ? `${ids}-note` : undefined}
        onChange={(e) => writeCompute(doc, computeFromValue(e.target.value))}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value} disabled={!o.runnable && o.value !== value}>
            {optionText(o)}
          </option>
        ))}
      </select>
      {note && (
        <span id={`${ids}-note`} className="compute-note muted" title={note}>
          {note}
        </span>
      )}
    </span>
  );
}
