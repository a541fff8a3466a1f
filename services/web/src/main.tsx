import { createRoot } from 'react-dom/client';
import { App } from './app';
import './styles.css';

// No StrictMode: its double effects would open each notebook's sockets twice in development.
performance.mark('quire:app-start');
createRoot(document.getElementById('root')!).render(<App />);
