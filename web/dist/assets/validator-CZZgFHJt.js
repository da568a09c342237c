import{aR as i}from"./index-BS1mL3PA.js";const n=o=>["",...i].includes(o);export{n as i};
